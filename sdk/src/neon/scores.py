"""`neon.score(...)`: attach a score to a trace or a span."""

from __future__ import annotations

import logging
from typing import Any

from neon.client import NeonClient, NeonError
from neon.tracing.config import current
from neon.tracing.spans import current_span

log = logging.getLogger("neon")


def score(name: str, value: float | bool | str, *, trace_id: str | None = None, span_id: str | None = None,
          reason: str = "", evidence: Any = None, scorer: str = "", metadata: dict[str, str] | None = None,
          score_id: str | None = None, client: NeonClient | None = None) -> str | None:
    """Send a score; returns its id, or None if it could not be sent (the failure is logged, not raised).

    Without `trace_id`, the score goes to the span active here (its trace, and the span itself).
    """
    if trace_id is None:
        active = current_span()
        if not active.otel_span.get_span_context().is_valid:
            raise ValueError("neon.score needs trace_id=… when called outside a span")
        trace_id = active.trace_id
        span_id = span_id or active.span_id
    payload = {"trace_id": trace_id, "span_id": span_id or "", "name": name, "value": value, "source": "sdk",
               "reason": reason, "evidence": evidence, "scorer": scorer, "metadata": metadata or {},
               "score_id": score_id}
    config = current()
    own = client is None
    chosen = client or NeonClient(config.base_url if config.provider else None, config.api_key)
    try:
        return chosen.create_scores([payload])[0]
    except (NeonError, OSError) as exc:  # httpx transport errors are OSErrors
        log.warning("neon.score %r not sent: %s", name, exc)
        return None
    finally:
        if own:
            chosen.close()
