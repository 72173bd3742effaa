import { useEffect, useRef, useState, type ReactNode } from 'react'
import { Link, useParams } from 'react-router'
import { api, unwrap, type AgentRunDetail, type AgentStep } from '../../api/client'
import { ErrorBox, Spinner } from '../../components/Feedback'
import { fullTime } from '../../lib/format'
import { useQuery } from '../../lib/useQuery'
import { MessageBox, RunControls, UsageBars } from './RunControls'
import { followRun, isFinal, statusClass, statusLabel, type RunEvent } from './runs'
import { StepRow, type Streamed } from './StepRow'

// The run's durable state is re-read this often while it can still change (the event stream carries tokens;
// steps and statuses come from the run itself).
const REFRESH_MS = { active: 1000, waiting: 4000 }

/** Extra per-step and per-run actions other screens plug in (kept out of the timeline's own code). */
export type RunPageSlots = {
  stepActions?: (run: AgentRunDetail, step: AgentStep) => ReactNode
  headerActions?: (run: AgentRunDetail) => ReactNode
  /** shown between the header and the timeline (e.g. the run's lineage) */
  belowHeader?: (run: AgentRunDetail) => ReactNode
}

export function RunPage({ slots = {} }: { slots?: RunPageSlots }) {
  const { runId = '' } = useParams()
  const run = useQuery(`agent-run:${runId}`, (signal) => unwrap(api.GET('/api/agent-runs/{run_id}', {
    params: { path: { run_id: runId } }, signal,
  })))
  const streamed = useStreamedText(runId, run.data ? !isFinal(run.data.status) : false, run.reload)
  const status = run.data?.status
  const reload = run.reload
  useEffect(() => {
    if (!status || isFinal(status)) return
    const quiet = status === 'waiting' || status === 'paused' || status === 'awaiting_approval'
    const timer = window.setInterval(reload, quiet ? REFRESH_MS.waiting : REFRESH_MS.active)
    return () => window.clearInterval(timer)
  }, [status, reload])

  if (run.error && !run.data) {
    return (
      <div className="page">
        <Link className="back" to="/runs">← Runs</Link>
        <ErrorBox error={run.error} what={`run ${runId}`} retry={run.reload} />
      </div>
    )
  }
  if (!run.data) return <div className="page"><Spinner /></div>
  const data = run.data
  return (
    <div className="page agent-run-page">
      <Link className="back" to={`/runs${data.agent ? `?agent=${encodeURIComponent(data.agent)}` : ''}`}>← Runs</Link>
      <RunHeader run={data} onChanged={run.reload} extra={slots.headerActions?.(data)} />
      {run.error && <ErrorBox error={run.error} what="the latest state of the run" retry={run.reload} />}
      {slots.belowHeader?.(data)}
      <Timeline run={data} streamed={streamed} onChanged={run.reload} stepActions={slots.stepActions} />
      {data.status === 'waiting' && <MessageBox runId={data.run_id} onSent={run.reload} />}
    </div>
  )
}

function RunHeader({ run, onChanged, extra }: { run: AgentRunDetail; onChanged: () => void; extra?: ReactNode }) {
  return (
    <div className="trace-head run-head">
      <h1>
        {run.agent ? <Link to={`/agents/${encodeURIComponent(run.agent)}`}>{run.agent}</Link> : 'Run'}
        {run.version && <span className="version big">{run.version}</span>}
        <span className={`status ${statusClass(run.status)}`} data-testid="run-status">{statusLabel(run.status)}</span>
        {run.pending_approvals > 0 && <span className="status status-attention">{run.pending_approvals} waiting for approval</span>}
      </h1>
      <dl className="facts inline">
        <div><dt>Run id</dt><dd><code>{run.run_id}</code></dd></div>
        <div><dt>Started</dt><dd>{run.started_at ? fullTime(run.started_at) : 'not yet'}</dd></div>
        {run.closed_at && <div><dt>Ended</dt><dd>{fullTime(run.closed_at)}</dd></div>}
        <div><dt>Turns completed</dt><dd>{run.turn}</dd></div>
        <div><dt>Trace</dt><dd><Link to={`/traces/${run.trace_id}`}>{run.trace_id.slice(0, 12)}…</Link></dd></div>
      </dl>
      {run.error && <div className="error-box">Run {run.status}: {run.error}</div>}
      <div className="run-head-row">
        <UsageBars run={run} />
        <div className="head-actions">
          <RunControls run={run} onChanged={onChanged} />
          {extra}
        </div>
      </div>
    </div>
  )
}

function Timeline({ run, streamed, onChanged, stepActions }: {
  run: AgentRunDetail
  streamed: Record<string, Streamed>
  onChanged: () => void
  stepActions?: RunPageSlots['stepActions']
}) {
  const known = new Set(run.steps.map((s) => s.key))
  // Tokens of an LLM call that the run's state does not list yet: shown as a provisional step at the end.
  const early = Object.entries(streamed).filter(([key]) => !known.has(key))
  let turn = -1
  return (
    <section className="timeline-section">
      <h3>Steps</h3>
      {run.earlier_step_count > 0 && (
        <p className="muted small">{run.earlier_step_count} earlier steps are counted in the usage (the run continued as new history).</p>)}
      {run.steps.length === 0 && early.length === 0 && <p className="muted">No steps yet.</p>}
      <ol className="timeline" aria-label="Run steps">
        {run.steps.flatMap((step) => {
          const rows = step.turn !== turn ? [<li key={`turn-${step.turn}`} className="turn-mark">Turn {step.turn + 1}</li>] : []
          turn = step.turn
          return [...rows, (
            <StepRow key={step.key} step={step} streamed={streamed[step.key]} runId={run.run_id} onChanged={onChanged}
              runEnded={isFinal(run.status)}
              approval={run.approvals.find((a) => a.step_key === step.key)} actions={stepActions?.(run, step)} />
          )]
        })}
        {early.map(([key, text]) => (
          <StepRow key={key} runId={run.run_id} onChanged={onChanged} streamed={text}
            step={{ key, index: 0, turn: 0, kind: 'llm', name: 'model', status: 'running', started_ns: 0, ended_ns: 0,
              attempt: text.attempt, summary: '', input_tokens: 0, output_tokens: 0 }} />
        ))}
      </ol>
      {run.answer !== null && run.answer !== undefined && (
        <div className="final-answer" aria-label="Answer">
          <h3>Answer{run.turn > 1 ? ` (turn ${run.turn})` : ''}</h3>
          <div className="reply-text">{run.answer}</div>
        </div>
      )}
    </section>
  )
}

/** Tokens as the run's LLM steps stream them; refetches the run when the stream says something else changed
 * (a step or status event, or events this page missed). */
function useStreamedText(runId: string, open: boolean, reload: () => void): Record<string, Streamed> {
  const [texts, setTexts] = useState<Record<string, Streamed>>({})
  const reloadRef = useRef(reload)
  reloadRef.current = reload
  useEffect(() => {
    if (!open) return
    const controller = new AbortController()
    const onEvent = (event: RunEvent) => {
      if (event.type === 'delta' && event.step_key) {
        const key = event.step_key
        const attempt = event.attempt ?? 1
        setTexts((old) => {
          const before = old[key]
          // a new attempt starts the step's text over (the failed attempt's tokens are not the reply)
          const text = before && before.attempt === attempt ? before.text + (event.text ?? '') : event.text ?? ''
          return { ...old, [key]: { attempt, text } }
        })
      } else if (event.type !== 'delta') {
        reloadRef.current()
      }
    }
    void followRun(runId, onEvent, () => undefined, controller.signal)
    return () => controller.abort()
  }, [runId, open])
  return texts
}
