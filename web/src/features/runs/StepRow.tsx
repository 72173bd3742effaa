import { useState, type ReactNode } from 'react'
import { api, unwrap, type AgentApproval, type AgentStep } from '../../api/client'
import { JsonTree, Payload } from '../../components/JsonView'
import { cost, count, duration, fullTime } from '../../lib/format'
import { ApprovalDecision } from '../approvals/ApprovalDecision'
import { nsToMs, statusClass, statusLabel } from './runs'

/** Text streamed for a step while it runs (from the run's `delta` events), per attempt: a retry starts over. */
export type Streamed = { attempt: number; text: string }

/** One step of a run's timeline. `actions` is where per-step actions go (e.g. forking the run from here). */
export function StepRow({ step, streamed, approval, runId, runEnded = false, onChanged, actions }: {
  step: AgentStep
  /** the run has ended: a call still undecided can no longer be decided */
  runEnded?: boolean
  streamed?: Streamed
  approval?: AgentApproval
  runId: string
  onChanged: () => void
  actions?: ReactNode
}) {
  const running = step.status === 'running'
  const took = step.ended_ns && step.started_ns ? duration(step.ended_ns - step.started_ns) : ''
  return (
    <li className={`step step-${step.kind} ${running ? 'is-running' : ''}`} data-step-key={step.key}
      aria-label={`Step ${step.key} ${step.kind} ${step.name}`}>
      <div className="step-head">
        <span className="step-key">{step.key}</span>
        <span className="step-kind">{KIND_LABELS[step.kind] ?? step.kind}</span>
        <span className="strong">{step.name}</span>
        <span className={`status ${statusClass(step.status)}`}>{statusLabel(step.status)}</span>
        {step.attempt > 1 && <span className="muted small">attempt {step.attempt}</span>}
        <span className="step-meta muted small">
          {took && <span>{took}</span>}
          {(step.input_tokens > 0 || step.output_tokens > 0) && (
            <span>{count(step.input_tokens)} in / {count(step.output_tokens)} out tokens</span>)}
          {step.cost_usd !== null && step.cost_usd !== undefined && <span>{cost(step.cost_usd)}</span>}
          {step.started_ns > 0 && <span title={fullTime(nsToMs(step.started_ns))}>{new Date(nsToMs(step.started_ns)).toLocaleTimeString()}</span>}
        </span>
        {actions && <span className="step-actions">{actions}</span>}
      </div>
      <StepBody step={step} streamed={streamed} />
      {step.error && <pre className="step-error">{step.error}</pre>}
      {approval && <ApprovalView approval={approval} runId={runId} runEnded={runEnded} onChanged={onChanged} />}
    </li>
  )
}

const KIND_LABELS: Record<string, string> = { llm: 'LLM', tool: 'tool', guardrail: 'guardrail', approval: 'approval' }

function StepBody({ step, streamed }: { step: AgentStep; streamed?: Streamed }) {
  if (step.kind === 'llm') {
    const text = step.status === 'running' ? streamed?.text ?? '' : step.summary
    return (
      <div className="step-body">
        {text ? <div className="reply-text">{text}{step.status === 'running' && <span className="caret" aria-hidden>▍</span>}</div>
          : step.status === 'running' ? <div className="muted small">waiting for the model…</div>
            : step.status === 'ok' ? <div className="muted small">no text (tool calls only)</div> : null}
        {step.output_ref && step.status !== 'running' && <BlobToggle label="Full reply" blobRef={step.output_ref} />}
      </div>
    )
  }
  if (step.kind === 'tool') {
    return (
      <div className="step-body">
        <div className="step-label">Arguments</div>
        {step.arguments ? <JsonTree value={step.arguments} /> : <span className="muted small">none</span>}
        {step.summary && <div className="tool-summary"><span className="step-label">Result</span> {step.summary}</div>}
        {step.output_ref && <BlobToggle label="Result" blobRef={step.output_ref} />}
      </div>
    )
  }
  return step.summary ? <div className="step-body verdict-text">{step.summary}</div> : null
}

/** A stored message or tool result (agent blobs), fetched when opened. */
function BlobToggle({ label, blobRef }: { label: string; blobRef: string }) {
  const [open, setOpen] = useState(false)
  const [value, setValue] = useState<unknown>()
  const [error, setError] = useState('')
  const toggle = async () => {
    setOpen(!open)
    if (open || value !== undefined) return
    try {
      const answer = await unwrap(api.POST('/api/agent-blobs/get', { body: [blobRef] }))
      setValue((answer as { values: unknown[] }).values[0] ?? null)
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err))
    }
  }
  return (
    <div className="blob">
      <button className="link inline" aria-expanded={open} onClick={() => void toggle()}>
        {open ? '▾' : '▸'} {label}
      </button>
      {open && (error ? <div className="error-box">Could not load it: {error}</div>
        : value === undefined ? <span className="muted small"> loading…</span> : <BlobValue value={value} />)}
    </div>
  )
}

function BlobValue({ value }: { value: unknown }) {
  // A tool result or a plain message is {role, content, …}: its content is what people read. A reply that
  // asks for tools is shown whole, so its tool calls are seen.
  if (value && typeof value === 'object' && 'content' in value && typeof value.content === 'string'
    && !('tool_calls' in value && Array.isArray(value.tool_calls) && value.tool_calls.length)) {
    return <div className="blob-value"><Payload text={value.content} /></div>
  }
  return <div className="blob-value"><JsonTree value={value} openTo={4} /></div>
}

/** An approval at its step: waiting (with the decision form) or decided (who, why, when). */
export function ApprovalView({ approval, runId, runEnded = false, onChanged }: {
  approval: AgentApproval
  runId: string
  runEnded?: boolean
  onChanged: () => void
}) {
  const decision = approval.decision
  return (
    <div className={`approval ${decision ? `approval-${decision}` : 'approval-waiting'}`} aria-label={`Approval of ${approval.tool}`}>
      <div className="approval-head">
        <span className="strong">Approval</span>
        {decision ? (
          <span className={`status ${statusClass(decision)}`}>{decision}{approval.timed_out ? ' (timed out)' : ''}</span>
        ) : runEnded ? <span className="status status-unset">not decided: the run ended</span>
          : <span className="status status-attention">waiting for a decision</span>}
        {!decision && !runEnded && <span className="muted small">deadline {fullTime(nsToMs(approval.deadline_ns))}</span>}
      </div>
      {approval.reason && <div className="approval-reason"><span className="step-label">The model said</span> {approval.reason}</div>}
      {decision ? (
        <div className="approval-decided">
          {approval.decided_by && <>by <span className="strong">{approval.decided_by}</span></>}
          {approval.decided_ns ? <> at {fullTime(nsToMs(approval.decided_ns))}</> : null}
          {approval.decided_reason && <div className="decided-reason">“{approval.decided_reason}”</div>}
        </div>
      ) : runEnded ? null : (
        <ApprovalDecision runId={runId} callId={approval.call_id} tool={approval.tool} onDecided={onChanged} />
      )}
    </div>
  )
}
