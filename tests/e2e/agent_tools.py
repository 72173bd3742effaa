"""Tools for the durability tests' agent, imported by the spawned worker processes (PYTHONPATH = the repo root).

`slow_step` says it started (a file named by NEON_TEST_MARK, one line per attempt) and then works until the test
lets it finish (the file NEON_TEST_RELEASE exists): the test can kill the worker while a tool call is running.
"""

from __future__ import annotations

import os
import time
from pathlib import Path


def slow_step(job: str) -> dict[str, str]:
    mark, release = Path(os.environ["NEON_TEST_MARK"]), Path(os.environ["NEON_TEST_RELEASE"])
    with mark.open("a") as out:
        out.write(f"{os.getpid()} {job}\n")
    deadline = time.monotonic() + 60
    while not release.exists():
        if time.monotonic() > deadline:
            raise TimeoutError("the test never released the step")
        time.sleep(0.05)
    return {"job": job, "done_by": str(os.getpid())}
