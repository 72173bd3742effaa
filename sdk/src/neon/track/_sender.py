"""Sending buffered sessions in order: create (or resume) the run a session belongs to, then its items, each
deleted once acknowledged. Shared by the `Run`'s background thread and `neon track sync`."""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from neon.track._buffer import RUN_FILE, Session
from neon.track._transport import Fatal, Refused, Retry, Transport

log = logging.getLogger("neon.track")


class Backoff:
    def __init__(self, first: float = 0.25, maximum: float = 5.0) -> None:
        self.first, self.maximum = first, maximum
        self.delay = 0.0
        self.until = 0.0

    def failed(self, after: float | None) -> float:
        self.delay = min(self.maximum, max(self.first, self.delay * 2))
        wait = after if after is not None else self.delay * (0.5 + random.random() / 2)  # noqa: S311 - jitter
        self.until = time.monotonic() + wait
        return wait

    def ok(self) -> None:
        self.delay = 0.0
        self.until = 0.0

    @property
    def waiting(self) -> float:
        return max(0.0, self.until - time.monotonic())


def session_spec(session: Session) -> dict[str, Any] | None:
    try:
        spec: dict[str, Any] = json.loads((session.folder / RUN_FILE).read_text())
    except (OSError, ValueError):
        return None
    return spec


class SessionSender:
    """Sends the items of sessions in order through one transport; remembers which runs it created."""

    def __init__(self, transport: Transport, backoff: Backoff | None = None) -> None:
        self.transport = transport
        self.backoff = backoff or Backoff()
        self._created: set[str] = set()
        self.sent = 0
        self.refused = 0

    def drain(self, session: Session, after_each: Callable[[Path], None] | None = None,
              stop: Callable[[], bool] | None = None) -> bool:
        """Send the session's items until it is empty (True) or a retry is due later (False). Raises Fatal."""
        spec = session_spec(session)
        while True:
            items = session.items()
            if not items:
                return True
            if spec is not None and (key := json.dumps(spec, sort_keys=True)) not in self._created:
                if not self._attempt(lambda: self.transport.create_run(spec)):
                    return False
                self._created.add(key)
            for item in items:
                if stop is not None and stop():
                    return False
                if not self._attempt(lambda item=item: self.transport.send_item(item), session, item):  # type: ignore[misc]
                    return False
                if after_each is not None:
                    after_each(item)

    def _attempt(self, call: Callable[[], object], session: Session | None = None, item: Path | None = None) -> bool:
        try:
            call()
        except Retry as exc:
            wait = self.backoff.failed(exc.after)
            log.info("neon.track: %s; retrying in %.1fs", exc, wait)
            return False
        except Refused as exc:
            assert session is not None
            assert item is not None
            aside = session.set_aside(item)
            self.refused += 1
            log.error("neon.track: the server refused %s (%s); kept as %s", item.name, exc, aside)
            return True
        except Fatal:
            raise
        self.backoff.ok()
        if session is not None and item is not None:
            session.remove(item)
            self.sent += 1
        return True
