import { useEffect, useState } from 'react'
import { Link, useNavigate, useSearchParams } from 'react-router'
import { api, unwrap, type AgentRun } from '../../api/client'
import { Empty, ErrorBox, Spinner } from '../../components/Feedback'
import { ago, durationMs, fullTime, parseTime } from '../../lib/format'
import { useQuery } from '../../lib/useQuery'
import { RUN_STATUSES, statusClass, statusLabel } from './runs'

const LIMIT = 50
const REFRESH_MS = 2000 // the list is live: new runs and status changes show up while it is open

export function RunsPage() {
  const [params, setParams] = useSearchParams()
  const agent = params.get('agent') ?? ''
  const version = params.get('version') ?? ''
  const status = params.get('status') ?? ''
  const page = params.get('page') ?? ''
  // Tokens of the pages before this one, so "Newer" can go back (the API pages forward only).
  const [earlier, setEarlier] = useState<string[]>([])
  // two runs picked to compare (the diff view), in the order picked: the first is A
  const [picked, setPicked] = useState<string[]>([])
  const navigate = useNavigate()
  const pick = (runId: string, on: boolean) => setPicked((old) => on ? [...old.filter((r) => r !== runId), runId].slice(-2)
    : old.filter((r) => r !== runId))

  const query = { limit: LIMIT, ...(agent ? { agent } : {}), ...(version ? { version } : {}),
    ...(status ? { status } : {}), ...(page ? { page_token: page } : {}) }
  const runs = useQuery(`agent-runs?${JSON.stringify(query)}`, (signal) => unwrap(api.GET('/api/agent-runs', {
    params: { query }, signal,
  })))
  const agents = useQuery('agents', (signal) => unwrap(api.GET('/api/agents', { signal })))
  const reload = runs.reload
  useEffect(() => {
    const timer = window.setInterval(reload, REFRESH_MS)
    return () => window.clearInterval(timer)
  }, [reload])

  const set = (key: string, value: string) => {
    const next = new URLSearchParams(params)
    if (value) next.set(key, value)
    else next.delete(key)
    if (key !== 'page') {
      next.delete('page')
      setEarlier([])
    }
    setParams(next)
  }
  const list = runs.data?.runs ?? []
  const filtered = !!(agent || version || status)

  return (
    <div className="page agent-runs-page">
      <div className="page-head">
        <h1>Runs</h1>
        <div className="head-actions">
          <label className="field"><span>Agent</span>
            <select aria-label="Agent" value={agent} onChange={(e) => set('agent', e.target.value)}>
              <option value="">All agents</option>
              {agent && !agents.data?.agents.some((a) => a.name === agent) && <option value={agent}>{agent}</option>}
              {agents.data?.agents.map((a) => <option key={a.name} value={a.name}>{a.name}</option>)}
            </select>
          </label>
          <label className="field"><span>Version</span>
            <input aria-label="Version" placeholder="any" size={14} defaultValue={version} key={version}
              onKeyDown={(e) => { if (e.key === 'Enter') set('version', e.currentTarget.value.trim()) }}
              onBlur={(e) => { if (e.target.value.trim() !== version) set('version', e.target.value.trim()) }} />
          </label>
          <label className="field"><span>Status</span>
            <select aria-label="Status" value={status} onChange={(e) => set('status', e.target.value)}>
              <option value="">Any status</option>
              {RUN_STATUSES.map((s) => <option key={s} value={s}>{statusLabel(s)}</option>)}
            </select>
          </label>
          <button className={picked.length === 2 ? 'primary' : ''} disabled={picked.length !== 2}
            title="Tick two runs to compare them step by step"
            onClick={() => navigate(`/runs/diff?a=${picked[0]}&b=${picked[1]}`)}>
            Compare{picked.length ? ` (${picked.length} of 2)` : ''}</button>
        </div>
      </div>
      {runs.error && <ErrorBox error={runs.error} what="runs" retry={runs.reload} />}
      {runs.loading && !runs.data && <Spinner />}
      {runs.data && list.length === 0 && (filtered ? (
        <Empty title="No runs match">
          <p><button className="link" onClick={() => setParams(new URLSearchParams())}>Show every run</button></p>
        </Empty>
      ) : (
        <Empty title="No agent runs yet">
          <p>Start one from an agent's page (<Link to="/agents">Agents</Link>), with{' '}
            <code>neon agent run &lt;agent&gt; --input "…"</code>, or <code>POST /api/agent-runs</code>.</p>
        </Empty>
      ))}
      {list.length > 0 && (
        <div className="table-scroll">
          <table className="plain-table runs-table" aria-label="Agent runs">
            <thead>
              <tr><th aria-label="Pick to compare" /><th>Run</th><th>Agent</th><th>Version</th><th>Status</th><th className="num">Pending approvals</th>
                <th>Started</th><th className="num">Duration</th></tr>
            </thead>
            <tbody>
              {list.map((run) => <RunRow key={run.run_id} run={run} picked={picked.includes(run.run_id)} onPick={pick} />)}
            </tbody>
          </table>
        </div>
      )}
      {(page || runs.data?.next_page_token) && (
        <div className="load-more">
          <button disabled={!page} onClick={() => {
            set('page', earlier[earlier.length - 1] ?? '')
            setEarlier(earlier.slice(0, -1))
          }}>← Newer</button>
          <button disabled={!runs.data?.next_page_token} onClick={() => {
            setEarlier([...earlier, page])
            set('page', runs.data?.next_page_token ?? '')
          }}>Older →</button>
        </div>
      )}
    </div>
  )
}

function RunRow({ run, picked, onPick }: { run: AgentRun; picked: boolean; onPick: (runId: string, on: boolean) => void }) {
  const started = run.started_at
  const ended = run.closed_at ? parseTime(run.closed_at) : Date.now()
  return (
    <tr data-run-id={run.run_id}>
      <td><input type="checkbox" aria-label={`Compare ${run.run_id}`} checked={picked}
        onChange={(e) => onPick(run.run_id, e.target.checked)} /></td>
      <td><Link to={`/runs/${run.run_id}`}><code>{run.run_id}</code></Link>
        {run.fork && <span className="muted small" title={`forked from ${run.fork.parent_run_id}`}> fork @ {run.fork.at_step}</span>}</td>
      <td>{run.agent ? <Link to={`/agents/${encodeURIComponent(run.agent)}`}>{run.agent}</Link> : '–'}</td>
      <td>{run.version ? <span className="version">{run.version}</span> : '–'}</td>
      <td><span className={`status ${statusClass(run.status)}`}>{statusLabel(run.status)}</span></td>
      <td className="num">{run.pending_approvals ? <Link to="/approvals" className="strong">{run.pending_approvals}</Link>
        : <span className="muted">0</span>}</td>
      <td title={started ? fullTime(started) : undefined}>{started ? ago(started) : '–'}</td>
      <td className="num">{started ? durationMs(ended - parseTime(started)) : '–'}</td>
    </tr>
  )
}
