"""`neon track sync`: send what finished processes left in the buffer (the server was down, or they crashed)."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from neon.credentials import load_credentials
from neon.track._buffer import buffer_root, leftover_sessions
from neon.track._sender import Backoff, SessionSender, session_spec
from neon.track._transport import Transport


@dataclass
class SyncResult:
    sent: int = 0  # items acknowledged by the server
    refused: int = 0  # items the server refused (kept under rejected/)
    left: int = 0  # items still in the buffer (the server could not be reached)


def sync(buffer_dir: str | os.PathLike[str] | None = None, *, api_key: str | None = None,
         base_url: str | None = None, attempts: int = 3) -> SyncResult:
    """Send every session no running process holds. A session goes to the server it was logged to, unless
    `base_url` is given; the key comes from the argument, NEON_API_KEY or the saved credentials."""
    saved = load_credentials()
    key = api_key or os.environ.get("NEON_API_KEY") or (saved.api_key if saved else None)
    root = buffer_root(buffer_dir)
    result = SyncResult()
    senders: dict[str, SessionSender] = {}
    try:
        for run_dir in sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []:
            for session in leftover_sessions(run_dir):
                spec = session_spec(session) or {}
                url = base_url or str(spec.get("base_url") or "")
                if not url:
                    result.left += len(session.items())
                    session.close(remove_if_empty=False)
                    continue
                sender = senders.get(url) or senders.setdefault(
                    url, SessionSender(Transport(url, key), Backoff(maximum=2.0)))
                for _ in range(attempts):
                    if sender.drain(session):
                        break
                    _sleep(sender.backoff.waiting)
                result.left += len(session.items())
                session.close()
                _prune(run_dir)
    finally:
        for sender in senders.values():
            result.sent += sender.sent
            result.refused += sender.refused
            sender.transport.close()
    return result


def _sleep(seconds: float) -> None:
    import time

    time.sleep(seconds)


def _prune(run_dir: Path) -> None:
    with contextlib.suppress(OSError):
        run_dir.rmdir()  # only when empty
