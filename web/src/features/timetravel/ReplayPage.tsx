import { useEffect } from 'react'
import { Link, useParams, useSearchParams } from 'react-router'
import { api, unwrap, type Schemas } from '../../api/client'
import { ErrorBox, Spinner } from '../../components/Feedback'
import { JsonTree } from '../../components/JsonView'
import { cost, count, duration, fullTime } from '../../lib/format'
import { useQuery } from '../../lib/useQuery'
import { Conversation } from '../trace/SpanPanel'
import { toMessages, type Message } from '../trace/messages'
import { UsageBar } from '../runs/RunControls'
import { nsToMs, statusClass, statusLabel } from '../runs/runs'

type Replay = Schemas['RunReplay']
type ReplayStep = Schemas['ReplayStepOut']

/** A finished run, step by step, as its Temporal history recorded it (`GET /api/agent-runs/{id}/replay`). The
 * step shown is in the URL (`?step=`), so a link points at one moment of the run. */
export function ReplayPage() {
  const { runId = '' } = useParams()
  const [params, setParams] = useSearchParams()
  const replay = useQuery(`agent-run-replay:${runId}`, (signal) => unwrap(api.GET('/api/agent-runs/{run_id}/replay', {
    params: { path: { run_id: runId } }, signal })))
  const steps = replay.data?.steps ?? []
  const at = Math.min(Math.max(0, Number(params.get('step') ?? 0) || 0), Math.max(0, steps.length - 1))
  const go = (i: number) => setParams((p) => { const n = new URLSearchParams(p); n.set('step', String(i)); return n }, { replace: true })
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.target instanceof HTMLInputElement || e.target instanceof HTMLTextAreaElement) return
      if (e.key === 'ArrowLeft' && at > 0) go(at - 1)
      if (e.key === 'ArrowRight' && at < steps.length - 1) go(at + 1)
    }
    window.addEventListener('keydown', onKey)
    return () => window.removeEventListener('keydown', onKey)
  })

  return (
    <div className="page replay-page">
      <Link className="back" to={`/runs/${runId}`}>← The run</Link>
      <h1>Replay{replay.data && <> of {replay.data.agent} <span className="version big">{replay.data.version}</span>
        <span className={`status ${statusClass(replay.data.status)}`}>{statusLabel(replay.data.status)}</span></>}</h1>
      {replay.error && <ErrorBox error={replay.error} what={`the replay of ${runId}`} retry={replay.reload} />}
      {!replay.data && !replay.error && <Spinner label="Replaying the run's history…" />}
      {replay.data && (
        <>
          <Determinism replay={replay.data} />
          {steps.length === 0 ? <p className="muted">The history has no steps.</p> : (
            <div className="replay-layout">
              <ol className="replay-steps" aria-label="Replay steps">
                {steps.map((s, i) => (
                  <li key={s.key}>
                    <button className={i === at ? 'picked' : ''} aria-current={i === at ? 'step' : undefined} onClick={() => go(i)}>
                      <span className="step-key">{s.key}</span> <span className="step-kind">{s.kind}</span> {s.name}
                      <span className={`status ${statusClass(s.status)}`}>{statusLabel(s.status)}</span>
                    </button>
                  </li>
                ))}
              </ol>
              <StepView replay={replay.data} at={at} onGo={go} />
            </div>
          )}
        </>
      )}
    </div>
  )
}


function Determinism({ replay }: { replay: Replay }) {
  return replay.deterministic ? (
    <div className="determinism ok" role="status" aria-label="Determinism check">
      Deterministic: the history replays against this server's workflow code.</div>
  ) : (
    <div className="determinism bad" role="status" aria-label="Determinism check">
      Not deterministic: this server's workflow code would not make the same decisions.
      {replay.problem && <pre className="step-error">{replay.problem}</pre>}
    </div>
  )
}

function StepView({ replay, at, onGo }: { replay: Replay; at: number; onGo: (i: number) => void }) {
  const step = replay.steps[at]
  const usage = step.usage_after
  const b = replay.budgets
  const tokens = usage.input_tokens + usage.output_tokens
  return (
    <section className="replay-step" aria-label="Replay step">
      <div className="replay-nav">
        <button onClick={() => onGo(at - 1)} disabled={at === 0}>← Previous</button>
        <span className="strong" data-testid="replay-position">Step {at + 1} of {replay.steps.length}</span>
        <button onClick={() => onGo(at + 1)} disabled={at === replay.steps.length - 1}>Next →</button>
      </div>
      <div className={`step step-${step.kind}`}>
        <div className="step-head">
          <span className="step-key">{step.key}</span>
          <span className="step-kind">{step.kind}</span>
          <span className="strong">{step.name}</span>
          <span className={`status ${statusClass(step.status)}`}>{statusLabel(step.status)}</span>
          {step.attempt > 1 && <span className="muted small">attempt {step.attempt}</span>}
          {step.local && <span className="muted small">ran inside the workflow</span>}
          <span className="step-meta muted small">
            {step.ended_ns > step.started_ns && <span>{duration(step.ended_ns - step.started_ns)}</span>}
            {step.started_ns > 0 && <span>{fullTime(nsToMs(step.started_ns))}</span>}
          </span>
        </div>
        {step.note && <p className="muted small">{step.note}</p>}
        {step.error && <pre className="step-error">{step.error}</pre>}
        <div className="replay-io">
          <div><h3>Input</h3><StepInput step={step} /></div>
          <div><h3>Output</h3><StepOutput step={step} /></div>
        </div>
        {step.approval && (
          <div className={`approval ${step.approval.decision ? `approval-${step.approval.decision}` : 'approval-waiting'}`} aria-label="Approval decision">
            <span className="strong">Approval</span>{' '}
            {step.approval.decision ? <span className={`status ${statusClass(step.approval.decision)}`}>{step.approval.decision}
              {step.approval.timed_out ? ' (timed out)' : ''}</span> : <span className="muted">not decided in this history</span>}
            {step.approval.by && <> by <span className="strong">{step.approval.by}</span></>}
            {step.approval.reason && <div className="decided-reason">“{step.approval.reason}”</div>}
          </div>
        )}
      </div>
      <h3>Usage after this step</h3>
      <div className="usage-bars">
        <UsageBar label="Steps" used={usage.steps} limit={b.max_steps} text={(n) => count(n)} />
        <UsageBar label="Tokens" used={tokens} limit={b.max_tokens} text={(n) => count(n)} />
        <UsageBar label="Cost" used={usage.cost_usd} limit={b.max_cost_usd} text={(n) => cost(n)} />
        <UsageBar label="Calls" used={usage.llm_calls + usage.tool_calls} limit={null}
          text={(n) => `${count(n)} (${usage.llm_calls} LLM, ${usage.tool_calls} tool)`} />
      </div>
      <h3>The conversation at this step</h3>
      <Conversation messages={conversationAt(replay, at)} />
    </section>
  )
}

function StepInput({ step }: { step: ReplayStep }) {
  const input = step.input
  if (!input) return <span className="muted small">not recorded</span>
  if (step.kind === 'llm') {
    const { system_prompt: _s, conversation_upto: upto, new_messages: added, ...rest } = input
    return (
      <div className="small">
        <div>The model was sent the system prompt and the first {String(upto ?? 0)} messages of the conversation
          {Array.isArray(added) && added.length > 0 ? `, plus ${added.length} new` : ''}.</div>
        <JsonTree value={rest} openTo={1} />
      </div>
    )
  }
  return <JsonTree value={input} />
}

function StepOutput({ step }: { step: ReplayStep }) {
  const output = step.output
  if (!output) return <span className="muted small">not recorded</span>
  if (step.kind === 'llm') {
    const { text, tool_calls: calls, message: _m, ...rest } = output
    return (
      <div className="small">
        {typeof text === 'string' && text && <div className="reply-text">{text}</div>}
        {Array.isArray(calls) && calls.length > 0 && (<><div className="step-label">Tool calls</div><JsonTree value={calls} /></>)}
        <JsonTree value={rest} openTo={0} />
      </div>
    )
  }
  if (step.kind === 'tool') {
    const { preview, ...rest } = output
    return (
      <div className="small">
        {typeof preview === 'string' && <div className="tool-result" aria-label="Tool result">{preview}</div>}
        <JsonTree value={rest} openTo={1} />
      </div>
    )
  }
  return <JsonTree value={output} />
}

/** The conversation as it stood at step `at`: what the last model call up to it was sent, its reply, and the tool
 * results that came back after it (the system prompt first). */
function conversationAt(replay: Replay, at: number): Message[] {
  const all = replay.messages.map((m) => m.message)
  let lastLlm = -1
  for (let i = at; i >= 0; i--) if (replay.steps[i].kind === 'llm') { lastLlm = i; break }
  let upto = 0
  let system = ''
  if (lastLlm >= 0) {
    const input = replay.steps[lastLlm].input ?? {}
    system = typeof input.system_prompt === 'string' ? input.system_prompt : ''
    const added = Array.isArray(input.new_messages) ? input.new_messages.length : 0
    upto = Number(input.conversation_upto ?? 0) + added
    if (at > lastLlm || replay.steps[lastLlm].output) upto += 1 // its reply
    for (let i = lastLlm + 1; i <= at; i++) if (replay.steps[i].kind === 'tool' && replay.steps[i].output) upto += 1
  } else {
    // before the first model call: the user's message is all there is
    upto = Math.min(1, all.length)
  }
  const raw = [...(system ? [{ role: 'system', content: system }] : []), ...all.slice(0, upto).filter(Boolean)]
  return toMessages(JSON.stringify(raw), 'user') ?? []
}
