"""The determinism check: replay a recorded agent-run history against the workflow code of this install.

The Replayer re-runs `AgentRun` against the history's events and makes no live call (activities are not run;
their recorded results are fed back). A change to the workflow that would make running histories diverge (a
step added, removed or reordered; an activity renamed) fails here, before it reaches a worker.
"""

from __future__ import annotations

import functools
import re

from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

import neon
from neon.execute.worker import workflow_runner
from neon.execute.workflows import AgentRun


@functools.cache
def shared_replayer() -> Replayer:
    """One replayer for every check of a process (it holds only its configuration; each replay runs apart)."""
    return replayer()


def replayer() -> Replayer:
    """A replayer with the worker's workflow and sandbox (the same passthrough modules as `create_worker`)."""
    # With no build id temporalio hashes the code of every loaded module first: ~1.5 s in a fresh process, ~9 s
    # in a server's, on the first replay. The replayer registers with no server, so any fixed id will do.
    return Replayer(workflows=[AgentRun], workflow_runner=workflow_runner(), build_id=f"neon-replay-{neon.__version__}")


async def check_history(history: WorkflowHistory, *, using: Replayer | None = None) -> str | None:
    """None when the history replays against this workflow code; else what went wrong (the non-determinism
    error's text, naming the event the code no longer matches)."""
    result = await (using or shared_replayer()).replay_workflow(history, raise_on_replay_failure=False)
    if result.replay_failure is None:
        return None
    text = str(result.replay_failure)
    # The core's error wraps the one sentence that matters in a debug dump of its Failure: keep the sentence.
    inner = _INNER.search(text)
    return f"{type(result.replay_failure).__name__}: {inner[1] if inner else text}"


_INNER = re.compile(r'message: "((?:[^"\\]|\\.)*)"')
