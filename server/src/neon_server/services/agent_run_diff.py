"""Diff two agent runs of a project: read each run (its steps from the progress query, its input and spec from
the first event of its history, each LLM step's prompt from that call's scheduled input in the history, the
outputs from the blob store) and compare them with `neon.execute.run_diff`.

The history holds prompts by reference (`message_refs`), so the prompt of an LLM step is the system prompt the
workflow sent and the messages those refs name, resolved here; a blob the project no longer has leaves that
message out rather than failing the diff.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from typing import Any

from temporalio.client import Client
from temporalio.service import RPCError

from neon.execute import shared as s
from neon.execute.history import timeline_of
from neon.execute.run_diff import RunDiff, RunRecord, StepContent, diff_runs
from neon_server.services.agent_blobs import AgentBlobService
from neon_server.services.agent_runs import AgentRunService
from neon_server.services.errors import NotFound, ServiceError, Unavailable


async def diff_agent_runs(runs: AgentRunService, blobs: AgentBlobService, project_id: str, a: str,
                          b: str) -> RunDiff:
    """Run `a` against run `b` (both of `project_id`; a run with itself is all same)."""
    record_a = await read_run(runs, blobs, project_id, a, "A")
    record_b = record_a if b == a else await read_run(runs, blobs, project_id, b, "B")
    return diff_runs(record_a, record_b)


async def read_run(runs: AgentRunService, blobs: AgentBlobService, project_id: str, run_id: str,
                   side: str) -> RunRecord:
    try:
        run = await runs.get(project_id, run_id)  # checks the project: another project's run is not found
    except ServiceError as exc:  # say which of the two runs it is about
        raise type(exc)(f"run {side}: {exc.message}", **exc.details) from exc
    steps = [s.Step(**step) for step in run["steps"]]
    started, llm_inputs = await _from_history(await runs.client(), run_id)
    refs = {step.output_ref for step in steps if step.output_ref}
    for scheduled in llm_inputs.values():
        refs.update(scheduled.message_refs)
    values = await asyncio.to_thread(_resolve, blobs, project_id, refs)
    contents: dict[str, StepContent] = {}
    for step in steps:
        output = values.get(step.output_ref) if step.output_ref else None
        if step.kind == "llm":
            contents[step.key] = _llm_content(llm_inputs.get(step.key), output, values)
        elif step.kind == "tool":
            contents[step.key] = StepContent(arguments=step.arguments,
                                             result=output.get("content") if isinstance(output, dict) else None)
    return RunRecord(run_id=run_id, steps=steps, contents=contents, agent=run.get("agent"),
                     version=run.get("version"), status=run.get("status"), answer=run.get("answer"),
                     input=started.input if started else None, spec=started.spec if started else None,
                     usage=dict(run.get("usage") or {}), fork=run.get("fork"))


async def _from_history(client: Client, run_id: str) -> tuple[s.RunInput | None, dict[str, s.LLMCallInput]]:
    """The run's input (first event) and each LLM step's call input by step key, from the current history."""
    try:
        history = await client.get_workflow_handle(run_id).fetch_history()
    except RPCError as exc:
        raise Unavailable(f"Temporal: {exc.message}") from exc
    timeline = timeline_of(history, converter=client.data_converter)
    calls = {step.key: step.input for step in timeline.steps if isinstance(step.input, s.LLMCallInput)}
    return timeline.run, calls


def _resolve(blobs: AgentBlobService, project_id: str, refs: Iterable[str]) -> dict[str, Any]:
    """The blobs this project still has, by ref."""
    found: dict[str, Any] = {}
    for ref in refs:
        try:
            found[ref] = json.loads(blobs.get(project_id, ref))
        except NotFound:
            continue
    return found


def _llm_content(call: s.LLMCallInput | None, output: Any, values: dict[str, Any]) -> StepContent:
    content = StepContent()
    if call is not None:
        content.system_prompt = call.system_prompt
        content.messages = [values[ref] for ref in call.message_refs if ref in values] + list(call.new_messages)
    if isinstance(output, dict):
        content.text = str(output.get("content") or "")
        content.tool_calls = list(output.get("tool_calls") or [])
    return content
