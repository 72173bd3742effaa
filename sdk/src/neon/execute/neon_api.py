"""How workers talk to Neon: agent blobs, spans and run stream events over HTTP, with the run's token.

    async with NeonRunAPI(connection) as neon:
        refs = await neon.put_blobs([message, tool_result])
        values = await neon.get_blobs(refs)
        await neon.ingest_spans(spans)
        await neon.publish(run_id, [{"type": "delta", "step_key": "0.1", "attempt": 1, "text": "Hel"}])

Blobs and spans matter: connection errors, timeouts, 429, 502, 503 and 504 are retried with backoff (and
Retry-After); another answer of 400 or more raises NeonAPIError with the status and the server's message.
Retrying is safe: blobs are content-addressed and a span body is serialised byte for byte the same way each
time, so the server recognises a retry of a request it already wrote. Stream events are best effort.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

import httpx

from neon.execute.shared import Connection, blob_ref, canonical_json
from neon.execute.spans import to_otlp_json
from neon.llm.base import parse_retry_after

log = logging.getLogger("neon.execute.neon_api")

RETRYABLE_STATUS = frozenset({429, 502, 503, 504})
MAX_REFS_PER_REQUEST = 500
TOO_LARGE = 413


class NeonAPIError(RuntimeError):
    """Neon refused a request (`status` is its HTTP status), or could not be reached (`status` is None).
    `retryable` says whether trying again later may succeed."""

    def __init__(self, message: str, *, status: int | None = None, retryable: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retryable = retryable


class NeonRunAPI:
    """A worker's client for one run's project. `http`: a shared `httpx.AsyncClient` (a worker keeps one for all
    its activities: making a client costs milliseconds of CPU, mostly its TLS context); without one, this object
    opens its own — close it (or use `async with`). `timeout` bounds each attempt of a blob or span request;
    `publish_timeout` a stream post."""

    def __init__(self, connection: Connection, *, http: httpx.AsyncClient | None = None, timeout: float = 30.0,
                 publish_timeout: float = 2.0, max_attempts: int = 6, backoff: float = 0.25, max_backoff: float = 10.0,
                 max_batch_bytes: int = 16 * 2**20, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.base_url = connection.neon_url.rstrip("/")
        self.max_attempts = max(1, max_attempts)
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.max_batch_bytes = max_batch_bytes
        self.publish_timeout = publish_timeout
        self.timeout = timeout
        self._headers = {"Authorization": f"Bearer {connection.run_token}", "Content-Type": "application/json"}
        self._owned = http is None
        self._http = http or httpx.AsyncClient(timeout=timeout, transport=transport)

    async def __aenter__(self) -> NeonRunAPI:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owned:
            await self._http.aclose()

    # ------------------------------------------------------------------ blobs
    async def put_blobs(self, values: Sequence[Any]) -> list[str]:
        """Store values in the project's blob store; their refs (`sha256:<hex>`), in order."""
        encoded = [canonical_json(value) for value in values]
        refs: list[str] = []
        for start, end in _batches([len(data) for data in encoded], self.max_batch_bytes):
            body = b"[" + b",".join(encoded[start:end]) + b"]"
            answer = await self._send("POST", "/api/agent-blobs", body)
            refs.extend(answer.json()["refs"])
        for index, (ref, value) in enumerate(zip(refs, values, strict=True)):
            mine = blob_ref(value)
            if ref != mine:  # both sides must agree on the canonical form, or refs would find nothing
                raise NeonAPIError(f"Neon stored blob [{index}] as {ref}, but this worker computes {mine}")
        return refs

    async def get_blobs(self, refs: Sequence[str]) -> list[Any]:
        """The values of `refs`, in order (a ref may repeat). Raises NeonAPIError (404) naming missing refs."""
        values: list[Any] = []
        for start in range(0, len(refs), MAX_REFS_PER_REQUEST):
            values.extend(await self._get_blobs(list(refs[start:start + MAX_REFS_PER_REQUEST])))
        for ref, value in zip(refs, values, strict=True):
            if blob_ref(value) != ref:
                raise NeonAPIError(f"blob {ref} came back with other content (sha256 mismatch)")
        return values

    async def _get_blobs(self, refs: list[str]) -> list[Any]:
        if not refs:
            return []
        try:
            answer = await self._send("POST", "/api/agent-blobs/get", canonical_json(refs))
        except NeonAPIError as exc:
            if exc.status != TOO_LARGE or len(refs) == 1:
                raise
            # Together these blobs are over the server's limit for one answer: ask for each half alone.
            middle = len(refs) // 2
            return await self._get_blobs(refs[:middle]) + await self._get_blobs(refs[middle:])
        values: list[Any] = answer.json()["values"]
        return values

    # ------------------------------------------------------------------ spans
    async def ingest_spans(self, spans: Sequence[dict[str, Any]]) -> None:
        """Send spans as built by `neon.execute.spans` (ids, parent, times, status, attributes) in one OTLP/JSON
        request. Only the spans given are written: nothing is added (no implicit root), and the body is the same
        bytes for the same spans, so a retry is recognised and counted once."""
        if not spans:
            return
        answer = await self._send("POST", "/v1/traces", to_otlp_json(list(spans)))
        rejected = (answer.json().get("partialSuccess") or {}).get("rejectedSpans")
        if rejected:
            log.warning("Neon rejected %s of the spans sent: %s", rejected,
                        answer.json()["partialSuccess"].get("errorMessage"))

    # ------------------------------------------------------------------ run stream
    async def publish(self, run_id: str, events: Sequence[dict[str, Any]]) -> None:
        """Hand events to the run's live subscribers. Best effort: one short attempt, never raises."""
        if not events:
            return
        try:
            response = await self._http.post(f"{self.base_url}/api/agent-runs/{quote(run_id, safe='')}/stream",
                                             headers=self._headers,
                                             content=canonical_json(list(events)), timeout=self.publish_timeout)
            if response.status_code >= 400:
                log.debug("run stream events dropped: %s %s", response.status_code, _server_message(response))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a stream event is never worth failing a step for
            log.debug("run stream events dropped: %s", exc)

    # ------------------------------------------------------------------ transport
    async def _send(self, method: str, path: str, body: bytes) -> httpx.Response:
        """One request, retried on what may pass; the response when its status is below 400."""
        attempt = 0
        while True:
            attempt += 1
            status: int | None = None
            retry_after: float | None = None
            try:
                response = await self._http.request(method, f"{self.base_url}{path}", content=body,
                                                    headers=self._headers, timeout=self.timeout)
            except httpx.TransportError as exc:  # connection refused or reset, timeouts
                problem = f"Neon at {self.base_url} did not answer {method} {path}: {type(exc).__name__}: {exc}"
            else:
                if response.status_code < 400:
                    return response
                status = response.status_code
                problem = f"Neon answered {status} to {method} {path}: {_server_message(response)}"
                retry_after = parse_retry_after(response.headers.get("retry-after"))
            retryable = status is None or status in RETRYABLE_STATUS
            if not retryable or attempt >= self.max_attempts:
                tries = f" (after {attempt} attempts)" if attempt > 1 else ""
                raise NeonAPIError(problem + tries, status=status, retryable=retryable)
            delay = self._delay(attempt, retry_after)
            log.info("%s; retrying in %.2f s", problem, delay)
            await asyncio.sleep(delay)

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, 30.0)
        ceiling = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
        return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not cryptography


def _batches(sizes: list[int], limit: int) -> list[tuple[int, int]]:
    """[start, end) ranges of consecutive items whose sizes (plus separators) stay within `limit` (one item
    over the limit goes alone, for the server to refuse with its reason)."""
    ranges: list[tuple[int, int]] = []
    start, total = 0, 2
    for index, size in enumerate(sizes):
        if index > start and total + size + 1 > limit:
            ranges.append((start, index))
            start, total = index, 2
        total += size + 1
    if start < len(sizes):
        ranges.append((start, len(sizes)))
    return ranges


def _server_message(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return response.text[:500] or response.reason_phrase
