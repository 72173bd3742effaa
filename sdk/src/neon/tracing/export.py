"""Export to Neon: a batch processor with a bounded queue that counts what it drops and says so once."""

from __future__ import annotations

import logging
import threading
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

log = logging.getLogger("neon")


class NeonSpanProcessor(BatchSpanProcessor):
    """OpenTelemetry's batch processor, except that a full queue drops the new span quietly (counted in
    `dropped`, one warning per process) instead of logging a warning for every span."""

    def __init__(self, exporter: SpanExporter, **options: Any) -> None:
        super().__init__(exporter, **options)
        self._max_queue = int(options.get("max_queue_size") or 2048)
        self.dropped = 0
        self._warned = False
        self._lock = threading.Lock()

    def on_end(self, span: ReadableSpan) -> None:
        pending = getattr(getattr(self, "_batch_processor", None), "_queue", None)
        if pending is not None and len(pending) >= self._max_queue:
            with self._lock:
                self.dropped += 1
                warn = not self._warned
                self._warned = True
            if warn:
                log.warning("neon: the span export queue is full (%d spans; is the server reachable?); "
                            "dropping spans until it drains. neon.dropped_spans() counts them.", self._max_queue)
            return
        super().on_end(span)
