"""A Temporal worker for agent runs: the workflow and its activities on one task queue.

`neon up` runs one in-process; `neon worker` runs more as separate processes. Both build it here.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

from temporalio.client import Client
from temporalio.worker import Worker

from neon.execute.activities import AgentActivities, Pricer, genai_price
from neon.execute.workflows import AgentRun

DEFAULT_TASK_QUEUE = "neon-agents"


def create_worker(client: Client, *, task_queue: str = DEFAULT_TASK_QUEUE, env: Mapping[str, str] | None = None,
                  pricer: Pricer = genai_price, max_concurrent_activities: int = 50,
                  llm_timeout_seconds: float = 120.0) -> Worker:
    """A worker for the agent-run workflow. Activities are async (LLM and HTTP calls); sync tools run on
    the tool module's own threads, so no activity executor is needed beyond the event loop."""
    activities = AgentActivities(env=env, pricer=pricer, llm_timeout_seconds=llm_timeout_seconds)
    return Worker(client, task_queue=task_queue, workflows=[AgentRun], activities=activities.all(),
                  max_concurrent_activities=max_concurrent_activities,
                  activity_executor=ThreadPoolExecutor(max_workers=4))
