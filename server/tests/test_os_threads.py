"""Python threads named for the OS, so per-thread CPU can be told apart."""

from __future__ import annotations

import threading
from pathlib import Path

from neon_server.os_threads import name_this_thread


def test_a_named_thread_shows_its_name_to_the_os() -> None:
    seen: list[str] = []

    def work() -> None:
        name_this_thread("neon-a-very-long-thread-name")
        seen.append(Path(f"/proc/self/task/{threading.get_native_id()}/comm").read_text().strip())

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert seen == ["neon-a-very-lon"]  # the OS keeps 15 bytes
    assert Path(f"/proc/self/task/{threading.get_native_id()}/comm").read_text().strip() != "neon-a-very-lon"
