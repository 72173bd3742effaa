import { useState } from 'react'
import { api, unwrap, type AgentRunDetail } from '../../api/client'
import { cost, count, durationMs, parseTime } from '../../lib/format'
import { isFinal } from './runs'

type Action = 'pause' | 'resume' | 'cancel' | 'close'

const PATHS = {
  pause: '/api/agent-runs/{run_id}/pause',
  resume: '/api/agent-runs/{run_id}/resume',
  cancel: '/api/agent-runs/{run_id}/cancel',
  close: '/api/agent-runs/{run_id}/close',
} as const

/** Pause / Resume / Cancel, and Close for a run waiting for its next message. */
export function RunControls({ run, onChanged }: { run: AgentRunDetail; onChanged: () => void }) {
  const [busy, setBusy] = useState<Action | ''>('')
  const [error, setError] = useState('')
  if (isFinal(run.status)) return null
  const paused = run.paused || run.status === 'paused'
  const act = async (action: Action) => {
    if (action === 'cancel' && !window.confirm('Cancel this run now? It cannot be resumed.')) return
    setBusy(action)
    setError('')
    try {
      await unwrap(api.POST(PATHS[action], { params: { path: { run_id: run.run_id } } }))
      onChanged()
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err))
    } finally {
      setBusy('')
    }
  }
  return (
    <div className="run-controls">
      {paused ? <button className="primary" disabled={!!busy} onClick={() => void act('resume')}>Resume</button>
        : <button disabled={!!busy} onClick={() => void act('pause')}
          title="Pause after the current step">Pause</button>}
      {run.status === 'waiting' && <button disabled={!!busy} onClick={() => void act('close')}
        title="End the conversation: the run takes no more messages">Close</button>}
      <button className="danger" disabled={!!busy} onClick={() => void act('cancel')}>Cancel</button>
      {error && <div className="error-box" role="alert">Could not {busy || 'do that'}: {error}</div>}
    </div>
  )
}

/** The next user message of a multi-turn run. */
export function MessageBox({ runId, onSent }: { runId: string; onSent: () => void }) {
  const [text, setText] = useState('')
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState('')
  const send = async () => {
    if (!text.trim()) return
    setBusy(true)
    setError('')
    try {
      await unwrap(api.POST('/api/agent-runs/{run_id}/messages', { params: { path: { run_id: runId } },
        body: { text } }))
      setText('')
      onSent()
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err))
    } finally {
      setBusy(false)
    }
  }
  return (
    <form className="message-box" onSubmit={(e) => { e.preventDefault(); void send() }}>
      <textarea aria-label="Next message" placeholder="The next message of the conversation…" rows={2}
        value={text} onChange={(e) => setText(e.target.value)} disabled={busy}
        onKeyDown={(e) => { if (e.key === 'Enter' && (e.metaKey || e.ctrlKey)) void send() }} />
      <button className="primary" type="submit" disabled={busy || !text.trim()}>Send</button>
      {error && <div className="error-box" role="alert">Could not send it: {error}</div>}
    </form>
  )
}

/** Usage against the run's budgets, as bars (a budget not set shows the amount alone). */
export function UsageBars({ run }: { run: AgentRunDetail }) {
  const { usage, budgets } = run
  const started = run.started_at ? parseTime(run.started_at) : undefined
  const ended = run.closed_at ? parseTime(run.closed_at) : Date.now()
  const wallMs = started === undefined ? undefined : Math.max(0, ended - started)
  const tokens = usage.input_tokens + usage.output_tokens
  return (
    <div className="usage-bars" aria-label="Usage against budgets">
      <UsageBar label="Steps" used={usage.steps} limit={budgets.max_steps} text={(n) => count(n)} />
      <UsageBar label="Tokens" used={tokens} limit={budgets.max_tokens} text={(n) => count(n)} />
      <UsageBar label="Cost" used={usage.cost_usd} limit={budgets.max_cost_usd} text={(n) => cost(n)}
        note={usage.unpriced_calls ? `${usage.unpriced_calls} calls without a known price are not counted` : undefined} />
      <UsageBar label="Wall time" used={wallMs === undefined ? undefined : wallMs / 1000}
        limit={budgets.max_wall_seconds} text={(n) => durationMs(n * 1000)} />
    </div>
  )
}

export function UsageBar({ label, used, limit, text, note }: {
  label: string
  used: number | undefined
  limit: number | null | undefined
  text: (n: number) => string
  note?: string
}) {
  const share = used !== undefined && limit ? Math.min(1, used / limit) : undefined
  return (
    <div className="usage" title={note} data-usage={label}>
      <div className="usage-label">{label}</div>
      <div className="usage-value">{used === undefined ? '–' : text(used)}
        <span className="muted">{limit ? ` of ${text(limit)}` : ' (no budget)'}</span></div>
      {share !== undefined && (
        <div className="usage-track"><div className={`usage-fill ${share >= 0.9 ? 'near' : ''}`}
          style={{ width: `${Math.max(1, share * 100)}%` }} /></div>
      )}
    </div>
  )
}
