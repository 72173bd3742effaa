"""Forks of agent runs: a new run that reuses a parent's steps before step k and goes live from k.

The parent's history holds every finished step's result (`neon.execute.fork`); the fork's workflow gets them
in its input and uses them instead of calling the model, the tools or the judge again, so those steps are
byte-identical. Lineage is a memo on the fork ({parent_run_id, at_step, overrides}) and the `NeonForkOf`
search attribute, which lists a run's forks.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from temporalio.service import RPCError

from neon.execute import fork as recorded
from neon.execute import shared as s
from neon.execute.errors import SpecError
from neon.execute.spec import AgentSpec
from neon_server.services.errors import InvalidInput, NotFound, Unavailable

if TYPE_CHECKING:
    from neon_server.services.agent_runs import AgentRunService

OVERRIDES = ("system_prompt", "model", "provider", "parameters", "tools", "version", "input")
FINISHED = frozenset({"ok", "error", "blocked", "rejected", "approved"})


async def fork_lineage(execution: Any) -> dict[str, Any] | None:
    """The fork memo of a listed or described run; None for a run that is not a fork."""
    memo = await execution.memo()
    lineage = memo.get("fork")
    return lineage if isinstance(lineage, dict) else None


async def fork_run(runs: AgentRunService, project_id: str, run_id: str, at_step: int,
                   overrides: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(overrides) - set(OVERRIDES))
    if unknown:
        raise InvalidInput(f"unknown override(s) {', '.join(unknown)}; allowed: {', '.join(OVERRIDES)}")
    overrides = {k: v for k, v in overrides.items() if v is not None}
    handle = await runs.handle(project_id, run_id)
    try:
        progress: s.Progress = await handle.query(s.PROGRESS, result_type=s.Progress)
        events = list((await handle.fetch_history()).events)
    except RPCError as exc:
        raise Unavailable(f"Temporal: {exc.message}") from exc
    parent = recorded.run_input(events)
    if parent.state is not None or progress.earlier_step_count:
        raise InvalidInput(f"run {run_id} continued as new after {progress.earlier_step_count} steps: only runs "
                           "whose steps are all in one history can be forked")
    finished = 0
    for step in progress.steps:
        if step.status not in FINISHED:
            break
        finished += 1
    if not 0 <= at_step <= finished:
        raise InvalidInput(f"at_step {at_step} is out of range: run {run_id} has {finished} finished step"
                           f"{'s' * (finished != 1)}, so at_step is 0..{finished}")
    spec = _forked_spec(runs, project_id, parent, overrides)
    try:
        spec.render_system_prompt(parent.variables)
    except SpecError as exc:
        raise InvalidInput(str(exc)) from exc
    version = runs.record_version(project_id, spec)

    # the turn of step k: the parent's messages up to it are replayed
    turn = progress.steps[at_step].turn if at_step < len(progress.steps) else (
        progress.steps[-1].turn if progress.steps else 0)
    messages = _conversation(parent, events)[:turn + 1]
    if "input" in overrides:
        if at_step > 0 and progress.steps[at_step - 1].turn == turn:
            first = next(step.index for step in progress.steps if step.turn == turn)
            raise InvalidInput(f"input replaces the user message of a turn, so at_step must be the first step of "
                               f"its turn: step {at_step} is in turn {turn}, which starts at step {first}")
        messages[turn:] = [overrides["input"]]
    if not messages:
        raise InvalidInput(f"run {run_id} has no user message to replay")

    steps = [step for step in _steps(parent, events) if step.index < at_step]
    _decisions_from_progress(steps, progress)
    lineage = {"parent_run_id": run_id, "at_step": at_step, "overrides": overrides}
    fork_id = _new_run_id()
    run = s.RunInput(project_id=project_id, run_id=fork_id, agent=spec.name, version=version, spec=spec.to_dict(),
                     connection=runs.connection(project_id), input=messages[0], variables=dict(parent.variables),
                     stream=parent.stream, multi_turn=parent.multi_turn,
                     idle_timeout_seconds=parent.idle_timeout_seconds,
                     fork=s.ForkFrom(parent_run_id=run_id, at_step=at_step, recorded=steps, messages=messages,
                                     overrides=overrides))
    await runs.start_input(run, memo={"fork": lineage}, fork_of=run_id)
    return {"run_id": fork_id, "trace_id": s.trace_id_for(fork_id), "agent": spec.name, "version": version,
            "status": s.RUNNING, "fork": lineage}


def _forked_spec(runs: AgentRunService, project_id: str, parent: s.RunInput,
                 overrides: dict[str, Any]) -> AgentSpec:
    """The parent's spec (or the chosen version's) with the overrides applied."""
    return spec_with_overrides(runs, project_id, agent=parent.agent, version=parent.version, spec=parent.spec,
                               overrides=overrides)


def spec_with_overrides(runs: AgentRunService, project_id: str, *, agent: str, version: str, spec: dict[str, Any],
                        overrides: dict[str, Any]) -> AgentSpec:
    """`spec` (or the chosen recorded version of `agent`) with the overrides applied: what a fork runs, and
    what an A/B variant runs."""
    base = copy.deepcopy(spec)
    where = f"version {version}"
    if "version" in overrides:
        known = runs.versions(project_id, agent)
        if overrides["version"] not in known:
            raise NotFound(f"agent {agent!r} has no version {overrides['version']!r}; its versions: "
                           f"{', '.join(known) or 'none recorded'}")
        base, where = copy.deepcopy(known[overrides["version"]]), f"version {overrides['version']}"
    if "system_prompt" in overrides:
        base["system_prompt"] = overrides["system_prompt"]
    model = base.setdefault("model", {})
    if "model" in overrides:
        model["name"] = overrides["model"]
    if "provider" in overrides:
        model["provider"] = overrides["provider"]
    if "parameters" in overrides:
        model["parameters"] = {**(model.get("parameters") or {}), **overrides["parameters"]}
    if "tools" in overrides:
        have = [tool["name"] for tool in base.get("tools") or []]
        missing = [name for name in overrides["tools"] if name not in have]
        if missing:
            raise InvalidInput(f"unknown tool(s) {', '.join(missing)}: agent {agent!r} {where} has "
                               f"{', '.join(have) or 'no tools'}")
        base["tools"] = [tool for tool in base.get("tools") or [] if tool["name"] in overrides["tools"]]
    try:
        return AgentSpec.from_dict(base)
    except SpecError as exc:
        raise InvalidInput(f"the forked spec is not valid: {exc}") from exc


def _conversation(parent: s.RunInput, events: list[Any]) -> list[str]:
    """The parent's user message of each turn. A parent that is itself a fork was fed its first turns from its
    input, not by messages: those come first."""
    messages = recorded.user_messages(events)
    return parent.fork.messages + messages[1:] if parent.fork is not None else messages


def _steps(parent: s.RunInput, events: list[Any]) -> list[s.RecordedStep]:
    """The parent's recorded steps. The steps a forked parent reused ran no activity: their records are in its
    input."""
    steps = {step.key: step for step in recorded.recorded_steps(events)}
    if parent.fork is not None:
        for step in parent.fork.recorded:
            if step.index < parent.fork.at_step:
                steps.setdefault(step.key, step)
    return sorted(steps.values(), key=lambda step: step.index)


def _decisions_from_progress(steps: list[s.RecordedStep], progress: s.Progress) -> None:
    """Decisions no update carried (an approval that timed out and was decided by policy) come from the
    parent's progress, so the fork does not wait for them again."""
    by_key = {step.key: step for step in steps}
    for approval in progress.approvals:
        step = by_key.get(approval.step_key)
        if step is not None and step.decision is None and approval.decision is not None:
            step.decision = s.Decision(approval.call_id, approval.decision == "approved",
                                       approval.decided_by or "", approval.decided_reason or "")


def _new_run_id() -> str:
    from neon_server.services.agent_runs import new_run_id

    return new_run_id()
