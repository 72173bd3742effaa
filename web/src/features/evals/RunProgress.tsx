import { useEffect, useRef, useState } from 'react'
import { api, unwrap, type Schemas } from '../../api/client'
import { useQuery } from '../../lib/useQuery'

type Progress = Schemas['EvalRunProgress']
type Action = 'pause' | 'resume' | 'cancel'

const OPEN = new Set(['queued', 'loading', 'running', 'paused', 'aggregating'])

/** A run's live progress (from its workflow) with Pause / Resume / Cancel; `onAdvance` is called when more
 * cases have finished or the run closed, so the page reloads its results as they arrive. */
export function RunProgress({ runId, onAdvance }: { runId: string; onAdvance: () => void }) {
  const progress = useQuery(`eval-run-progress:${runId}`, (signal) => unwrap(api.GET('/api/eval-runs/{run_id}/progress', {
    params: { path: { run_id: runId } }, signal,
  })))
  const [busy, setBusy] = useState<Action | null>(null)
  const [failure, setFailure] = useState<string | null>(null)
  const data = progress.data
  const open = !data || OPEN.has(data.status)
  const reload = progress.reload
  useEffect(() => {
    if (!open) return
    const timer = window.setInterval(reload, 1000)
    return () => window.clearInterval(timer)
  }, [open, reload])

  // Results are fetched again when the count of finished cases moves, or when the run closes.
  const seen = useRef('')
  const marker = data ? `${data.done}/${data.status}` : ''
  useEffect(() => {
    if (!marker || marker === seen.current) return
    if (seen.current) onAdvance()
    seen.current = marker
  }, [marker, onAdvance])

  if (!data) return null
  const act = async (action: Action) => {
    setBusy(action)
    setFailure(null)
    try {
      const path = { params: { path: { run_id: runId } } }
      if (action === 'pause') await unwrap(api.POST('/api/eval-runs/{run_id}/pause', path))
      else if (action === 'resume') await unwrap(api.POST('/api/eval-runs/{run_id}/resume', path))
      else await unwrap(api.POST('/api/eval-runs/{run_id}/cancel', path))
      reload()
    } catch (error) {
      setFailure(error instanceof Error ? error.message : String(error))
    } finally {
      setBusy(null)
    }
  }
  return <ProgressBar progress={data} open={open} busy={busy} failure={failure} act={act} />
}

function ProgressBar({ progress: p, open, busy, failure, act }: {
  progress: Progress
  open: boolean
  busy: Action | null
  failure: string | null
  act: (action: Action) => void
}) {
  const share = (n: number) => `${p.total ? (100 * n) / p.total : 0}%`
  const controllable = open && p.workflow_id !== null && p.status !== 'aggregating'
  return (
    <div className="run-progress" data-status={p.status} aria-label="Run progress">
      <div className="progress-track" role="progressbar" aria-valuemin={0} aria-valuemax={p.total} aria-valuenow={p.done}>
        <span className="bar-passed" style={{ width: share(p.passed) }} />
        <span className="bar-failed" style={{ width: share(p.failed) }} />
        <span className="bar-errored" style={{ width: share(p.errored) }} />
        <span className="bar-running" style={{ width: share(p.running) }} />
      </div>
      <div className="progress-facts">
        <span className="progress-done" data-testid="progress-done">{p.done}/{p.total} done</span>
        <span className="outcome-badge-passed">{p.passed} passed</span>
        <span className="outcome-badge-failed">{p.failed} failed</span>
        <span className="outcome-badge-errored">{p.errored} errored</span>
        <span data-testid="progress-running">{p.running} running</span>
        <span className="progress-state" data-testid="progress-state">{p.paused && open ? 'paused' : p.status}</span>
        {controllable && (
          <span className="progress-actions">
            {p.paused
              ? <button className="secondary" disabled={busy !== null} onClick={() => act('resume')}>Resume</button>
              : <button className="secondary" disabled={busy !== null} onClick={() => act('pause')}>Pause</button>}
            <button className="danger" disabled={busy !== null} onClick={() => act('cancel')}>Cancel</button>
          </span>
        )}
      </div>
      {failure && <div className="error-box">{failure}</div>}
    </div>
  )
}
