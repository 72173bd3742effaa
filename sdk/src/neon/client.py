"""A typed client for Neon's REST API (what the SDK and CLI use to talk to a server)."""

from __future__ import annotations

import os
from typing import Any

import httpx

from neon.credentials import load_credentials

DEFAULT_BASE_URL = "http://127.0.0.1:3000"


class NeonError(RuntimeError):
    """The server refused a request; the message is the server's."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(f"{status_code}: {message}")
        self.status_code = status_code
        self.message = message


class NeonClient:
    """`NeonClient()` finds the server like the SDK does: arguments, NEON_BASE_URL / NEON_API_KEY, then the
    credentials `neon up` saved."""

    def __init__(self, base_url: str | None = None, api_key: str | None = None, *, timeout: float = 10.0) -> None:
        saved = load_credentials()
        self.base_url = (base_url or os.environ.get("NEON_BASE_URL") or (saved.base_url if saved else None)
                         or DEFAULT_BASE_URL).rstrip("/")
        key = api_key or os.environ.get("NEON_API_KEY") or (saved.api_key if saved else None)
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> NeonClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._http.request(method, path, **kwargs)
        if response.status_code >= 400:
            try:
                message = response.json()["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = response.text
            raise NeonError(response.status_code, message)
        return response.json() if response.content else None

    def health(self) -> dict[str, Any]:
        result: dict[str, Any] = self._request("GET", "/api/health")
        return result

    def get_trace(self, trace_id: str) -> dict[str, Any]:
        """{"trace": summary, "spans": [...]} — spans without inputs/outputs (see `get_span_payload`)."""
        result: dict[str, Any] = self._request("GET", f"/api/traces/{trace_id}")
        return result

    def get_span_payload(self, trace_id: str, span_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._request("GET", f"/api/traces/{trace_id}/spans/{span_id}/payload")
        return result

    def create_scores(self, scores: list[dict[str, Any]]) -> list[str]:
        result = self._request("POST", "/api/scores", json=scores)
        return list(result["score_ids"])
