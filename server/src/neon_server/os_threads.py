"""The server's busiest Python threads named for the operating system, so per-thread CPU (`top -H`,
`/proc/PID/task/*/comm`, `bench/ingest_bench.py --threads`) tells them apart; Python's own thread names are not
passed to the OS, so every Python thread would show as the process's name."""

from __future__ import annotations

import ctypes
import sys
from functools import cache
from typing import Any


@cache
def _setname() -> tuple[Any, Any] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)
        current, setname = libc.pthread_self, libc.pthread_setname_np
    except (OSError, AttributeError):
        return None
    current.restype = ctypes.c_ulong
    setname.argtypes = [ctypes.c_ulong, ctypes.c_char_p]
    setname.restype = ctypes.c_int
    return current, setname


def name_this_thread(name: str) -> None:
    """Name the calling thread (the OS keeps 15 bytes); does nothing where that is not possible."""
    found = _setname()
    if found is not None:
        current, setname = found
        setname(current(), name.encode()[:15])
