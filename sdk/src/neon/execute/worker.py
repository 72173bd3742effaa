"""A Temporal worker for agent runs: the workflow and its activities on one task queue.

`neon up` runs one in-process; `neon worker` runs more as separate processes. Both build it here.
"""

from __future__ import annotations

from collections.abc import Mapping

from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from neon.execute.activities import AgentActivities, Pricer, genai_price
from neon.execute.workflows import AgentRun

DEFAULT_TASK_QUEUE = "neon-agents"


def create_worker(client: Client, *, task_queue: str = DEFAULT_TASK_QUEUE, env: Mapping[str, str] | None = None,
                  pricer: Pricer = genai_price, max_concurrent_activities: int = 50,
                  llm_timeout_seconds: float = 120.0) -> Worker:
    """A worker for the agent-run workflow. Every activity is async (LLM and HTTP calls; a synchronous Python
    tool runs on a thread of its own), so the worker needs no activity thread pool."""
    activities = AgentActivities(env=env, pricer=pricer, llm_timeout_seconds=llm_timeout_seconds)
    return Worker(client, task_queue=task_queue, workflows=[AgentRun], activities=activities.all(),
                  max_concurrent_activities=max_concurrent_activities,
                  # Neon's own modules are deterministic where the workflow uses them (specs, spans, shared
                  # types) and import jsonschema, yaml and httpx, which the sandbox need not re-import per run.
                  workflow_runner=SandboxedWorkflowRunner(
                      restrictions=SandboxRestrictions.default.with_passthrough_modules(
                          "neon", "jsonschema", "referencing", "yaml", "httpx")))
