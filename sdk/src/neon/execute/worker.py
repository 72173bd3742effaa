"""A Temporal worker for agent runs: the workflow and its activities on one task queue.

`neon up` runs one in-process; `neon worker` runs more as separate processes. Both build it here.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

import neon
from neon.execute.activities import AgentActivities, Pricer, genai_price
from neon.execute.evals.ab import AbTest, compare_variants
from neon.execute.evals.activities import EvalActivities
from neon.execute.evals.workflows import EvalCase, EvalRun
from neon.execute.workflows import AgentRun

DEFAULT_TASK_QUEUE = "neon-agents"


def create_worker(client: Client, *, task_queue: str = DEFAULT_TASK_QUEUE, agents_path: Path | None = None,
                  neon_url: str | None = None, env: Mapping[str, str] | None = None, pricer: Pricer = genai_price,
                  max_concurrent_activities: int = 50, llm_timeout_seconds: float = 120.0,
                  evals_path: Path | None = None) -> Worker:
    """A worker for the agent-run workflow and the eval-run workflows. Every activity is async (LLM and HTTP
    calls; a synchronous Python tool or agent runs on a thread of its own), so the worker needs no activity
    thread pool.

    `agents_path`: the agents folder; it and the working directory go on `sys.path`, so Python tools named
    `pkg.module:function` import from beside the specs. `neon_url` is not needed: every run carries how its
    activities reach Neon (the URL and a run token), so one worker serves every project.

    `evals_path`: where this worker finds Python eval suites (default: NEON_EVALS_PATH); without either, the
    folder each eval run names (the server's, right when the worker runs beside the server).
    """
    del neon_url
    folders = [Path.cwd()] + ([agents_path.resolve().parent, agents_path.resolve()] if agents_path else [])
    for folder in folders:
        if str(folder) not in sys.path:
            sys.path.append(str(folder))
    activities = AgentActivities(env=env, pricer=pricer, llm_timeout_seconds=llm_timeout_seconds)
    configured = os.environ.get("NEON_EVALS_PATH")
    evals = EvalActivities(evals_path=evals_path or (Path(configured) if configured else None))
    return Worker(client, task_queue=task_queue, workflows=[AgentRun, EvalRun, EvalCase, AbTest],
                  activities=activities.all() + evals.all() + [compare_variants],
                  build_id=f"neon-{neon.__version__}",  # without one, temporalio hashes every loaded module
                  max_concurrent_activities=max_concurrent_activities,
                  workflow_runner=workflow_runner())


def workflow_runner() -> SandboxedWorkflowRunner:
    """The workflow sandbox of workers and of the replayer (`replay.py`): both must run the same code."""
    # Neon's own modules are deterministic where the workflow uses them (specs, spans, shared types) and
    # import jsonschema, yaml and httpx, which the sandbox need not re-import per run.
    return SandboxedWorkflowRunner(restrictions=SandboxRestrictions.default.with_passthrough_modules(
        "neon", "jsonschema", "referencing", "yaml", "httpx"))
