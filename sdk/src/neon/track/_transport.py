"""Sending buffered items to the server, and how each answer is to be taken (retry, set aside, stop)."""

from __future__ import annotations

import gzip
import json
import logging
from pathlib import Path
from typing import Any

import httpx

from neon.track._format import MEDIA_TYPE

log = logging.getLogger("neon.track")


class Retry(Exception):
    """The server is not reachable or asked to wait (429, 5xx): try again later."""

    def __init__(self, message: str, after: float | None = None) -> None:
        super().__init__(message)
        self.after = after


class Refused(Exception):
    """The server refused this item for good (a 4xx): resending it would not help."""


class Fatal(Exception):
    """Nothing can be sent with these credentials (401/403), or the run cannot be created."""


def _message(response: httpx.Response) -> str:
    try:
        error = response.json()["error"]
        return f"{response.status_code} {error.get('track_code') or error['code']}: {error['message']}"
    except (ValueError, KeyError, TypeError):
        return f"{response.status_code}: {response.text[:300]}"


class Transport:
    def __init__(self, base_url: str, api_key: str | None, *, timeout: float = 60.0, compress: bool = False) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.base_url = base_url
        self.compress = compress
        self._http = httpx.Client(base_url=base_url, headers=headers, timeout=httpx.Timeout(timeout, connect=5.0))

    def close(self) -> None:
        self._http.close()

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise Retry(f"{self.base_url} not reachable: {exc or type(exc).__name__}") from None
        status = response.status_code
        if status < 400:
            return response
        if status in (408, 429) or status >= 500:
            after = response.headers.get("retry-after")
            raise Retry(_message(response), float(after) if after and after.isdigit() else None)
        if status in (401, 403):
            raise Fatal(_message(response))
        return response

    def create_run(self, spec: dict[str, Any]) -> dict[str, Any]:
        body = {k: spec[k] for k in ("run_id", "experiment_name", "creation_time_ms", "resume")
                if spec.get(k) is not None}
        if spec.get("fork_run_id") is not None:
            body["fork"] = {"run_id": spec["fork_run_id"], "step": spec["fork_step"]}
        response = self._send("POST", "/api/track/runs", json=body)
        if response.status_code >= 400:
            if response.status_code == 409:  # another lineage: the run continues, as Neptune's did
                log.warning("run %r: %s", spec["run_id"], _message(response))
                return {"code": "RUN_CONFLICTING"}
            raise Fatal(f"run {spec['run_id']!r} could not be created: {_message(response)}")
        answer: dict[str, Any] = response.json()
        return answer

    def send_item(self, item: Path) -> None:
        """Send one buffered item; returns once the server acknowledged it durably."""
        if item.suffix == ".ntrk":
            data = item.read_bytes()
            headers = {"Content-Type": MEDIA_TYPE}
            if self.compress:
                data = gzip.compress(data, compresslevel=1)
                headers["Content-Encoding"] = "gzip"
            response = self._send("POST", "/api/track/ingest", content=data, headers=headers)
            if response.status_code >= 400:
                raise Refused(_message(response))
            answer = response.json()
            for rejection in answer.get("rejections", []):
                log.warning("%d point(s) or value(s) refused: %s %s", rejection["count"], rejection["code"],
                            rejection["message"])
            return
        meta = json.loads(item.read_text())
        with open(item.with_suffix(".bin"), "rb") as f:
            response = self._send("PUT", f"/api/track/files/{meta['key']}", content=f.read(),
                                  headers={"Content-Type": "application/octet-stream"})
        if response.status_code >= 400:
            raise Refused(_message(response))
