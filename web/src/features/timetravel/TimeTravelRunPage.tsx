import { useState } from 'react'
import { Link, useNavigate } from 'react-router'
import { api, unwrap, type AgentRunDetail, type AgentStep } from '../../api/client'
import { useQuery } from '../../lib/useQuery'
import { RunPage } from '../runs/RunPage'
import { isFinal, statusClass, statusLabel } from '../runs/runs'
import { ForkDialog } from './ForkDialog'

/** The run page with time travel plugged in: fork from a step, the run's lineage and forks, compare, replay. */
export function TimeTravelRunPage() {
  const [forkAt, setForkAt] = useState<{ run: AgentRunDetail; step: number } | null>(null)
  return (
    <>
      <RunPage slots={{
        stepActions: (run, step) => <StepTimeTravel run={run} step={step} onFork={(at) => setForkAt({ run, step: at })} />,
        headerActions: (run) => <HeaderLinks run={run} />,
        belowHeader: (run) => <Lineage run={run} />,
      }} />
      {forkAt && <ForkDialog run={forkAt.run} atStep={forkAt.step} onClose={() => setForkAt(null)} />}
    </>
  )
}

function StepTimeTravel({ run, step, onFork }: { run: AgentRunDetail; step: AgentStep; onFork: (at: number) => void }) {
  // a fork's steps before at_step are the parent's records, not calls this run made
  const reused = run.fork && step.index < run.fork.at_step
  return (
    <>
      {reused && <span className="reused-badge" title="Reused from the parent run: not run again">reused</span>}
      {step.status !== 'running' && run.agent && ( // a finished step: a run still going can be forked too
        <button className="link small" onClick={() => onFork(step.index)}>Fork from here</button>)}
    </>
  )
}

function HeaderLinks({ run }: { run: AgentRunDetail }) {
  const [picking, setPicking] = useState(false)
  return (
    <div className="timetravel-links">
      {isFinal(run.status) && <Link className="button" to={`/runs/${run.run_id}/replay`}>Replay</Link>}
      {run.fork && (
        <Link className="button" to={`/runs/diff?a=${run.fork.parent_run_id}&b=${run.run_id}`}>Compare with parent</Link>)}
      {picking ? <ComparePicker run={run} onDone={() => setPicking(false)} />
        : <button onClick={() => setPicking(true)}>Compare with…</button>}
    </div>
  )
}

/** Pick another run (of the same agent first) to compare this one with. */
function ComparePicker({ run, onDone }: { run: AgentRunDetail; onDone: () => void }) {
  const navigate = useNavigate()
  const [other, setOther] = useState('')
  const query = { limit: 50, ...(run.agent ? { agent: run.agent } : {}) }
  const runs = useQuery(`agent-runs?${JSON.stringify(query)}`, (signal) => unwrap(api.GET('/api/agent-runs', {
    params: { query }, signal })))
  const choices = (runs.data?.runs ?? []).filter((r) => r.run_id !== run.run_id)
  return (
    <form className="compare-picker" onSubmit={(e) => {
      e.preventDefault()
      const b = other.trim()
      if (b) navigate(`/runs/diff?a=${run.run_id}&b=${encodeURIComponent(b)}`)
    }}>
      <input aria-label="Run to compare with" list="compare-runs" placeholder="run id" size={34} value={other}
        onChange={(e) => setOther(e.target.value)} autoFocus />
      <datalist id="compare-runs">
        {choices.map((r) => <option key={r.run_id} value={r.run_id}>{r.version} · {r.status}</option>)}
      </datalist>
      <button className="primary" type="submit" disabled={!other.trim()}>Compare</button>
      <button type="button" onClick={onDone}>Cancel</button>
    </form>
  )
}

/** Where this run came from (a fork: its parent, step and overrides) and the forks made of it. */
function Lineage({ run }: { run: AgentRunDetail }) {
  const forks = useQuery(`agent-run-forks:${run.run_id}`, (signal) => unwrap(api.GET('/api/agent-runs', {
    params: { query: { fork_of: run.run_id, limit: 50 } }, signal })))
  const children = forks.data?.runs ?? []
  if (!run.fork && children.length === 0) return null
  return (
    <section className="lineage" aria-label="Lineage">
      {run.fork && (
        <div className="lineage-parent">
          Forked from <Link to={`/runs/${run.fork.parent_run_id}`}><code>{run.fork.parent_run_id}</code></Link> at step{' '}
          <span className="strong">{run.fork.at_step}</span>
          {Object.keys(run.fork.overrides).length === 0 ? <span className="muted"> with no changes</span> : (
            <ul className="overrides">
              {Object.entries(run.fork.overrides).map(([key, value]) => (
                <li key={key}><span className="step-label">{key}</span>
                  <span className="override-value">{typeof value === 'string' ? value : JSON.stringify(value)}</span></li>
              ))}
            </ul>
          )}
        </div>
      )}
      {children.length > 0 && (
        <div className="lineage-forks">
          <span className="strong">Forks of this run ({children.length})</span>
          <ul>
            {children.map((f) => (
              <li key={f.run_id}><Link to={`/runs/${f.run_id}`}><code>{f.run_id}</code></Link>
                {' '}at step {f.fork?.at_step} <span className={`status ${statusClass(f.status)}`}>{statusLabel(f.status)}</span>
                {' '}<Link to={`/runs/diff?a=${run.run_id}&b=${f.run_id}`}>compare</Link></li>
            ))}
          </ul>
        </div>
      )}
    </section>
  )
}
