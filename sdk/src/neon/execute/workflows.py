"""The agent-run workflow: deterministic orchestration of LLM calls, tool calls, guardrails and approvals.

Every I/O is an activity (`activities.py`); this module only decides. What it keeps in history is small
(`shared.py`): messages and tool results are blobs passed by reference. Each step has a stable key, so its
span id is the same on every attempt and replay, and a retried `emit_spans` sends the same bytes.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey
from temporalio.exceptions import ActivityError, ApplicationError, is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from neon.execute import shared as s
    from neon.execute.spans import approval_span, guardrail_span, llm_span, tool_span, turn_span
    from neon.execute.specview import SpecView

STATUS_KEY = SearchAttributeKey.for_keyword(s.SA_STATUS)
PENDING_KEY = SearchAttributeKey.for_int(s.SA_PENDING)
SHORT = timedelta(seconds=30)
SPAN_BATCH = 8  # spans queued before a batch goes out mid-turn
PLUMBING_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
                             maximum_interval=timedelta(seconds=30))  # blobs and spans: retried until stored


class RunStopped(Exception):
    """A budget ran out: the run ends as `stopped`, with the reason."""


@workflow.defn(name=s.WORKFLOW)
class AgentRun:
    @workflow.init
    def __init__(self, run: s.RunInput) -> None:
        self.input = run
        self.spec = SpecView(run.spec)
        self.state = run.state or s.RunState()
        self.steps: list[s.Step] = []
        self.approvals: dict[str, s.Approval] = {}
        self.inbox: list[s.UserMessage] = []
        self.paused = False
        self.closing = False
        self.status = s.RUNNING
        self.answer: str | None = self.state.answer
        self.error: str | None = None
        self._open_turn: tuple[int, int, str] | None = None  # (turn, started ns, user text) until its span is written
        self._emitting: list[Any] = []  # span activities in flight
        self._span_buffer: list[dict[str, Any]] = []  # spans not sent yet
        self._unsaved: list[dict[str, Any]] = []  # the user's message, stored by the next LLM call
        fork = run.fork
        # a fork's recorded steps before at_step: used instead of calling the model, the tool or the judge again
        self._recorded = {r.key: r for r in fork.recorded if r.index < fork.at_step} if fork else {}
        self._reused: set[str] = set()  # keys of the steps taken from the record (their spans say so)

    # ------------------------------------------------------------------ the run
    @workflow.run
    async def run(self, run: s.RunInput) -> s.RunResult:
        if not self.state.started_ns:
            self.state.started_ns = workflow.time_ns()
        pending = run.input
        try:
            while True:
                if pending is None:
                    if not run.multi_turn or not await self._wait_for_message():
                        break
                    pending = self.inbox.pop(0).text
                self._set_status(s.RUNNING)
                try:
                    await self._turn(pending)
                except RunStopped as stop:
                    self.error = str(stop)
                    await self._end_turn(None, self.error)
                    self._set_status(s.STOPPED)
                    return self._result()
                pending = None
                self.state.turn += 1
                pending = self._parent_message()
                if run.multi_turn and pending is None and not self.inbox \
                        and workflow.info().is_continue_as_new_suggested():
                    await self._continue_as_new()
        except (asyncio.CancelledError, ActivityError) as stopped:
            if not is_cancelled_exception(stopped):  # a failed guardrail check: fails the run, as before
                raise
            self.error = "cancelled"
            await self._end_turn(None, "cancelled")
            self._set_status(s.CANCELLED)
            raise
        except ApplicationError as failure:
            self.error = failure.message
            await self._end_turn(None, failure.message)
            self._set_status(s.FAILED)
            raise
        self._set_status(s.COMPLETED)
        return self._result()

    async def _turn(self, text: str) -> None:
        self._open_turn = (self.state.turn, workflow.time_ns(), text)
        rules = self.spec.guardrails("input")
        if rules:
            verdict = await self._guardrail("input", rules, text)
            if not verdict.passed:
                self.answer = None
                self.error = "input blocked: " + _reasons(verdict)
                await self._end_turn(None, self.error)
                return
            text = verdict.text
        self._unsaved = [{"role": "user", "content": text}]
        self.error = None
        while True:
            await self._gate()
            self._check_budgets()
            llm = await self._llm_step()
            if llm.tool_calls:
                self._check_budgets(upcoming=len(llm.tool_calls))
                refs = await asyncio.gather(*(self._tool_step(call, llm.text) for call in llm.tool_calls))
                self.state.message_refs.extend(refs)
                continue
            answer = llm.text
            rules = self.spec.guardrails("output")
            if rules:
                verdict = await self._guardrail("output", rules, answer)
                if not verdict.passed:
                    self.answer = None
                    self.error = "answer withheld: " + _reasons(verdict)
                    await self._end_turn(None, self.error)
                    return
                answer = verdict.text
            self.answer = answer
            await self._end_turn(answer, None)
            return

    def _parent_message(self) -> str | None:
        """A fork replays the parent's conversation up to the forked step: its next turn's message, if any."""
        fork = self.input.fork
        if fork is not None and self.state.turn < len(fork.messages):
            return fork.messages[self.state.turn]
        return None

    def _record_of(self, step: s.Step) -> s.RecordedStep | None:
        recorded = self._recorded.get(step.key)
        if recorded is not None:
            self._reused.add(step.key)
        return recorded

    async def _end_turn(self, answer: str | None, error: str | None) -> None:
        """Write the open turn's root span (once: a turn ends one way)."""
        if self._open_turn is None:
            return
        turn, started, text = self._open_turn
        self._open_turn = None
        span = turn_span(self.input, turn, start=started, end=workflow.time_ns(), user_text=text, answer=answer,
                         error=error)
        if self.input.fork is not None:
            span["attributes"].update({"neon.fork.parent_run_id": self.input.fork.parent_run_id,
                                       "neon.fork.step": self.input.fork.at_step})
        self._emit([span])
        await self._flush_spans()  # a turn has ended when its trace is complete

    # ------------------------------------------------------------------ steps
    def _new_step(self, kind: str, name: str) -> s.Step:
        index = self.state.next_index
        self.state.next_index += 1
        step = s.Step(key=f"{self.state.turn}.{index}", index=index, turn=self.state.turn, kind=kind, name=name,
                      status="running", started_ns=workflow.time_ns())
        self.steps.append(step)
        return step

    async def _llm_step(self) -> s.LLMCallResult:
        step = self._new_step("llm", self.spec.model_name)
        call = s.LLMCallInput(connection=self.input.connection, run_id=self.input.run_id, step_key=step.key,
                              model=self.spec.model, system_prompt=self.spec.system_prompt(self.input.variables),
                              message_refs=list(self.state.message_refs), tools=self.spec.tool_definitions(),
                              stream=self.input.stream, new_messages=list(self._unsaved))
        recorded = self._record_of(step)
        if recorded is not None and recorded.llm is not None:
            return self._llm_done(step, recorded.llm)
        if recorded is not None and recorded.failure is not None:  # the parent failed here: so does the fork
            step.status, step.error, step.ended_ns = "error", recorded.failure, workflow.time_ns()
            self._emit([llm_span(self.input, step, None)])
            raise ApplicationError(f"step {step.key} (LLM call to {self.spec.model_name}) failed: {step.error}",
                                   type="LLMCallFailed", non_retryable=True)
        try:
            result: s.LLMCallResult = await workflow.execute_activity(
                s.LLM_CALL, call, result_type=s.LLMCallResult, start_to_close_timeout=self.spec.llm_timeout,
                retry_policy=self.spec.llm_retry, summary=f"{step.key} llm {self.spec.model_name}")
        except ActivityError as failed:
            self._stop_if_cancelled(step, failed)
            step.status, step.error, step.ended_ns = "error", _cause(failed), workflow.time_ns()
            self._emit([llm_span(self.input, step, None)])
            raise ApplicationError(f"step {step.key} (LLM call to {self.spec.model_name}) failed: {step.error}",
                                   type="LLMCallFailed", non_retryable=True) from failed
        return self._llm_done(step, result)

    def _llm_done(self, step: s.Step, result: s.LLMCallResult) -> s.LLMCallResult:
        self.state.message_refs.extend(result.new_refs)
        self._unsaved = []
        self.state.message_refs.append(result.message_ref)
        usage = self.state.usage
        usage.steps, usage.llm_calls = usage.steps + 1, usage.llm_calls + 1
        usage.input_tokens += result.input_tokens
        usage.output_tokens += result.output_tokens
        if result.cost_usd is None:
            usage.unpriced_calls += 1
        else:
            usage.cost_usd += result.cost_usd
        step.status, step.started_ns, step.ended_ns, step.attempt = "ok", result.started_ns, result.ended_ns, \
            result.attempt
        step.output_ref, step.input_tokens, step.output_tokens = result.message_ref, result.input_tokens, \
            result.output_tokens
        step.cost_usd = result.cost_usd
        step.summary = result.text[:200] if result.text else ", ".join(c.name for c in result.tool_calls)
        self._emit([llm_span(self.input, step, result)])
        return result

    async def _tool_step(self, call: s.ToolCallRequest, reason: str) -> str:
        step = self._new_step("tool", call.name)
        step.tool_call_id, step.arguments = call.id, call.arguments
        recorded = self._record_of(step)
        if recorded is not None and (recorded.tool is not None or recorded.failure is not None):
            if recorded.decision is not None:
                await self._approval(step, call, reason, recorded.decision)
            if recorded.tool is not None:
                return self._tool_done(step, recorded.tool)
            return await self._tool_failed(step, call, recorded.failure or "")
        tool = self.spec.tool(call.name)
        problem = self.spec.argument_problem(call) if tool is not None else (
            f"unknown tool {call.name!r} (this agent has: {', '.join(self.spec.tool_names) or 'no tools'})")
        if problem is None and tool is not None and tool.get("requires_approval"):
            approval = await self._approval(step, call, reason, recorded.decision if recorded else None)
            if approval.decision != "approved":
                why = approval.decided_reason or ("timed out" if approval.timed_out else "no reason given")
                problem = f"the call was rejected by {approval.decided_by or 'policy'}: {why}"
                step.status = "rejected"
        if problem is not None or tool is None:
            return await self._tool_failed(step, call, problem or "unknown tool")
        try:
            result: s.ToolCallResult = await workflow.execute_activity(
                s.TOOL_CALL, s.ToolCallInput(connection=self.input.connection, run_id=self.input.run_id,
                                             step_key=step.key, tool=tool, call=call),
                result_type=s.ToolCallResult, start_to_close_timeout=self.spec.tool_timeout(tool),
                retry_policy=self.spec.tool_retry(tool), summary=f"{step.key} tool {call.name}")
        except ActivityError as failed:
            self._stop_if_cancelled(step, failed)
            return await self._tool_failed(step, call, _cause(failed))
        return self._tool_done(step, result)

    def _stop_if_cancelled(self, step: s.Step, failed: ActivityError) -> None:
        """A call cut short because the run was cancelled is not a failed step: the step shows `cancelled` and
        the cancellation goes on up, so the run ends `cancelled` (and a tool's model is not told of an error)."""
        if is_cancelled_exception(failed):
            step.status, step.error, step.ended_ns = "cancelled", "cancelled", workflow.time_ns()
            raise failed

    def _tool_done(self, step: s.Step, result: s.ToolCallResult) -> str:
        step.status = "ok" if result.ok else "error"
        step.started_ns, step.ended_ns, step.attempt = result.started_ns, result.ended_ns, result.attempt
        step.output_ref, step.summary, step.error = result.result_ref, result.preview[:200], result.error
        self._count_tool()
        self._emit([tool_span(self.input, step, result)])
        return result.result_ref

    async def _tool_failed(self, step: s.Step, call: s.ToolCallRequest, message: str) -> str:
        """A call that did not produce a result: the model is told why, as the call's result."""
        step.status = step.status if step.status == "rejected" else "error"
        step.error, step.summary, step.ended_ns = message, message[:200], workflow.time_ns()
        [ref] = await self._put([{"role": "tool", "tool_call_id": call.id, "name": call.name,
                                  "content": f"error: {message}"}])
        step.output_ref = ref
        self._count_tool()
        self._emit([tool_span(self.input, step, None)])
        return ref

    def _count_tool(self) -> None:
        usage = self.state.usage
        usage.steps, usage.tool_calls = usage.steps + 1, usage.tool_calls + 1

    async def _guardrail(self, stage: str, rules: list[dict[str, Any]], text: str) -> s.GuardrailOutput:
        step = self._new_step("guardrail", stage)
        local = self.spec.check_locally(stage, text)
        if local is not None:  # no LLM check among the rules: deterministic, so no activity is needed
            local.started_ns = local.ended_ns = workflow.time_ns()
            return self._guardrail_done(step, local)
        recorded = self._record_of(step)
        if recorded is not None and recorded.guardrail is not None:
            return self._guardrail_done(step, recorded.guardrail)
        verdict: s.GuardrailOutput = await workflow.execute_activity(
            s.GUARDRAILS, s.GuardrailInput(connection=self.input.connection, run_id=self.input.run_id,
                                           step_key=step.key, stage=stage, rules=rules, text=text,
                                           judge_model=self.spec.model),
            result_type=s.GuardrailOutput, start_to_close_timeout=self.spec.llm_timeout,
            retry_policy=self.spec.llm_retry, summary=f"{step.key} guardrails {stage}")
        return self._guardrail_done(step, verdict)

    def _guardrail_done(self, step: s.Step, verdict: s.GuardrailOutput) -> s.GuardrailOutput:
        step.status = "ok" if verdict.passed else "blocked"
        step.started_ns, step.ended_ns = verdict.started_ns, verdict.ended_ns
        step.summary = "passed" if verdict.passed else _reasons(verdict)
        self._emit([guardrail_span(self.input, step, verdict)])
        return verdict

    # ------------------------------------------------------------------ approvals
    async def _approval(self, step: s.Step, call: s.ToolCallRequest, reason: str,
                        recorded: s.Decision | None = None) -> s.Approval:
        now = workflow.time_ns()
        timeout = self.spec.approval_timeout_seconds
        approval = s.Approval(call_id=call.id, step_key=step.key, tool=call.name, arguments=call.arguments,
                              reason=reason[:2000], requested_ns=now, deadline_ns=now + int(timeout * 1e9))
        self.approvals[step.key] = approval
        if recorded is not None:  # a fork: the parent's decision stands, nobody is asked again
            self._decide(approval, recorded)
            self._reused.add(step.key)
            self._emit([approval_span(self.input, step, approval)])
            return approval
        self._refresh_status()
        await self._flush_spans(wait=False)
        try:
            await workflow.wait_condition(lambda: approval.decision is not None, timeout=timedelta(seconds=timeout))
        except TimeoutError:
            approval.timed_out = True
            policy = self.spec.approval_on_timeout
            if policy == "escalate":  # nobody decided in time: keep waiting, flagged, with no deadline
                approval.decided_reason = "escalated after the approval timeout"
                await workflow.wait_condition(lambda: approval.decision is not None)
            else:
                approval.decision = "approved" if policy == "approve" else "rejected"
                approval.decided_by, approval.decided_ns = "timeout policy", workflow.time_ns()
                approval.decided_reason = f"no decision within {timeout:g} s (on_timeout: {policy})"
        self._refresh_status()
        self._emit([approval_span(self.input, step, approval)])
        return approval

    @workflow.update(name=s.DECIDE_APPROVAL)
    async def decide_approval(self, decision: s.Decision) -> s.Approval:
        approval = self._pending(decision.call_id)
        assert approval is not None  # the validator let it through
        self._decide(approval, decision)
        return approval

    @staticmethod
    def _decide(approval: s.Approval, decision: s.Decision) -> None:
        approval.decision = "approved" if decision.approved else "rejected"
        approval.decided_by, approval.decided_reason = decision.by or "unknown", decision.reason
        approval.decided_ns = workflow.time_ns()

    @decide_approval.validator
    def _validate_decision(self, decision: s.Decision) -> None:
        if self._pending(decision.call_id) is None:
            waiting = ", ".join(f"{a.step_key} ({a.call_id}, {a.tool})" for a in self.approvals.values()
                                if a.decision is None) or "none"
            raise ValueError(f"no pending approval {decision.call_id!r} in this run; pending: {waiting}")

    def _pending(self, call: str) -> s.Approval | None:
        for approval in self.approvals.values():
            if approval.decision is None and call in (approval.call_id, approval.step_key):
                return approval
        return None

    # ------------------------------------------------------------------ messages, pause, close
    @workflow.update(name=s.SEND_MESSAGE)
    async def send_message(self, message: s.UserMessage) -> int:
        self.inbox.append(message)
        return len(self.inbox)

    @send_message.validator
    def _validate_message(self, message: s.UserMessage) -> None:
        if not message.text.strip():
            raise ValueError("the message is empty")
        if self.closing or self.status in (s.COMPLETED, s.FAILED, s.CANCELLED, s.STOPPED):
            raise ValueError(f"the run is {self.status if not self.closing else 'closing'}: it takes no messages")
        if not self.input.multi_turn:
            raise ValueError("this run was started single-turn: it takes no further messages")

    @workflow.signal(name=s.PAUSE)
    def pause(self) -> None:
        self.paused = True

    @workflow.signal(name=s.RESUME)
    def resume(self) -> None:
        self.paused = False

    @workflow.signal(name=s.CLOSE)
    def close(self) -> None:
        self.closing = True

    async def _gate(self) -> None:
        """Between steps: hold while paused."""
        if self.paused:
            self._set_status(s.PAUSED)
            await self._flush_spans(wait=False)
            await workflow.wait_condition(lambda: not self.paused)
            self._refresh_status()

    async def _wait_for_message(self) -> bool:
        self._set_status(s.WAITING)
        try:
            await workflow.wait_condition(lambda: bool(self.inbox) or self.closing,
                                          timeout=timedelta(seconds=self.input.idle_timeout_seconds))
        except TimeoutError:
            return False
        return bool(self.inbox) and not self.closing

    # ------------------------------------------------------------------ budgets, status, progress
    def _check_budgets(self, upcoming: int = 1) -> None:
        """Before `upcoming` steps: stop the run if they would go past a budget (steps), or one is spent."""
        budgets, usage = self.spec.budgets, self.state.usage
        if budgets.max_steps is not None and usage.steps + upcoming > budgets.max_steps:
            raise RunStopped(f"budget: {usage.steps} steps reached max_steps {budgets.max_steps}")
        tokens = usage.input_tokens + usage.output_tokens
        if budgets.max_tokens is not None and tokens >= budgets.max_tokens:
            raise RunStopped(f"budget: {tokens} tokens reached max_tokens {budgets.max_tokens}")
        if budgets.max_cost_usd is not None and usage.cost_usd >= budgets.max_cost_usd:
            raise RunStopped(f"budget: ${usage.cost_usd:.4f} reached max_cost_usd {budgets.max_cost_usd}")
        elapsed = (workflow.time_ns() - self.state.started_ns) / 1e9
        if budgets.max_wall_seconds is not None and elapsed >= budgets.max_wall_seconds:
            raise RunStopped(f"budget: {elapsed:.0f} s reached max_wall_seconds {budgets.max_wall_seconds:g}")

    def _set_status(self, status: str) -> None:
        self.status = status
        pending = sum(1 for a in self.approvals.values() if a.decision is None)
        workflow.upsert_search_attributes([STATUS_KEY.value_set(status), PENDING_KEY.value_set(pending)])

    def _refresh_status(self) -> None:
        waiting = any(a.decision is None for a in self.approvals.values())
        self._set_status(s.AWAITING_APPROVAL if waiting else s.PAUSED if self.paused else s.RUNNING)

    @workflow.query(name=s.PROGRESS)
    def progress(self) -> s.Progress:
        return s.Progress(run_id=self.input.run_id, trace_id=s.trace_id_for(self.input.run_id),
                          agent=self.input.agent, version=self.input.version, status=self.status,
                          turn=self.state.turn, steps=self.steps, earlier_step_count=self.state.earlier_step_count,
                          approvals=list(self.approvals.values()), usage=self.state.usage,
                          budgets=self.spec.budgets, answer=self.answer, error=self.error, paused=self.paused)

    def _result(self) -> s.RunResult:
        return s.RunResult(status=self.status, answer=self.answer, error=self.error, usage=self.state.usage,
                           turns=self.state.turn)

    # ------------------------------------------------------------------ plumbing activities
    async def _put(self, values: list[Any]) -> list[str]:
        refs: list[str] = await workflow.execute_activity(
            s.PUT_BLOBS, s.PutBlobsInput(connection=self.input.connection, values=values), result_type=list[str],
            start_to_close_timeout=SHORT, retry_policy=PLUMBING_RETRY)
        return refs

    def _emit(self, spans: list[dict[str, Any]]) -> None:
        """Queue spans; they go out in batches, in the background (an activity per batch, not per step), so
        no step waits for its spans to be stored. `_flush_spans` sends what is queued."""
        for span in spans:
            if span["attributes"].get("neon.step_key") in self._reused:
                span["attributes"]["neon.fork.reused"] = True
        self._span_buffer.extend(spans)
        if len(self._span_buffer) >= SPAN_BATCH:
            self._send_spans()

    def _send_spans(self) -> None:
        batch, self._span_buffer = self._span_buffer, []
        if batch:
            self._emitting.append(workflow.start_activity(
                s.EMIT_SPANS, s.EmitSpansInput(connection=self.input.connection, spans=batch),
                start_to_close_timeout=SHORT, retry_policy=PLUMBING_RETRY))

    async def _flush_spans(self, *, wait: bool = True) -> None:
        """Send the queued spans; with `wait`, until every batch is stored (the end of a turn). Before a long
        wait (an approval, a pause) they are sent without waiting, so the trace shows the run so far."""
        self._send_spans()
        if wait:
            pending, self._emitting = self._emitting, []
            if pending:
                await asyncio.gather(*pending)

    async def _continue_as_new(self) -> None:
        """Start a fresh history for the next turn: the conversation travels as refs, earlier steps as a blob."""
        self.state.answer = self.answer
        earlier = [step.__dict__ for step in self.steps]
        if earlier:
            [ref] = await self._put([{"previous": self.state.earlier_steps_ref, "steps": earlier}])
            self.state.earlier_steps_ref = ref
            self.state.earlier_step_count += len(earlier)
        workflow.continue_as_new(s.RunInput(
            project_id=self.input.project_id, run_id=self.input.run_id, agent=self.input.agent,
            version=self.input.version, spec=self.input.spec, connection=self.input.connection, input=None,
            variables=self.input.variables, stream=self.input.stream, multi_turn=self.input.multi_turn,
            idle_timeout_seconds=self.input.idle_timeout_seconds, state=self.state, fork=self.input.fork))


def _cause(error: ActivityError) -> str:
    """The innermost message of a failed activity: the provider's or the tool's own words."""
    cause: BaseException | None = error
    while cause is not None and cause.__cause__ is not None:
        cause = cause.__cause__
    if isinstance(cause, ApplicationError):
        kind = f"{cause.type}: " if cause.type and cause.type not in cause.message else ""
        return f"{kind}{cause.message}"
    return str(cause or error)


def _reasons(verdict: s.GuardrailOutput) -> str:
    return "; ".join(f"{v.rule}: {v.reason}" for v in verdict.verdicts if not v.passed) or "blocked"
