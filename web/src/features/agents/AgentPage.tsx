import { useState } from 'react'
import { Link, useNavigate, useParams, useSearchParams } from 'react-router'
import { api, unwrap } from '../../api/client'
import { ErrorBox, Spinner } from '../../components/Feedback'
import { ago, fullTime } from '../../lib/format'
import { useQuery } from '../../lib/useQuery'
import { AgentSpecView, SpecDiff } from './AgentSpecView'

/** An agent: its versions, one version's spec, the diff of two, and a form to start a run. */
export function AgentPage() {
  const { name = '' } = useParams()
  const [params, setParams] = useSearchParams()
  const agent = useQuery(`agent:${name}`, (signal) => unwrap(api.GET('/api/agents/{name}', {
    params: { path: { name } }, signal,
  })))
  const latest = agent.data?.latest.version
  const shown = params.get('version') ?? latest ?? ''
  const version = useQuery(`agent:${name}:${shown}`, (signal) => shown === latest && agent.data
    ? Promise.resolve(agent.data.latest)
    : unwrap(api.GET('/api/agents/{name}/versions/{version}', { params: { path: { name, version: shown } }, signal })))
  const from = params.get('from') ?? ''
  const to = params.get('to') ?? ''
  const set = (values: Record<string, string>) => {
    const next = new URLSearchParams(params)
    for (const [k, v] of Object.entries(values)) {
      if (v) next.set(k, v)
      else next.delete(k)
    }
    setParams(next, { replace: true })
  }

  if (agent.error) {
    return (
      <div className="page">
        <Link className="back" to="/agents">← Agents</Link>
        <ErrorBox error={agent.error} what={`agent ${name}`} retry={agent.reload} />
      </div>
    )
  }
  if (!agent.data) return <div className="page"><Spinner /></div>
  const versions = agent.data.versions
  return (
    <div className="page agent-page">
      <Link className="back" to="/agents">← Agents</Link>
      <div className="page-head">
        <h1>{name} <span className="version big">{latest}</span></h1>
        <Link to={`/runs?agent=${encodeURIComponent(name)}`}>Runs of {name} →</Link>
      </div>
      {typeof agent.data.latest.spec.description === 'string' && agent.data.latest.spec.description && (
        <p className="muted">{agent.data.latest.spec.description}</p>)}
      <div className="agent-layout">
        <div className="agent-main">
          <StartRun agent={name} variables={(version.data?.spec.variables ?? {}) as Record<string, string>} />
          <section className="card">
            <h2>Spec of <span className="version">{shown}</span>{shown === latest && <span className="muted small"> (latest)</span>}</h2>
            {version.error && <ErrorBox error={version.error} what={`version ${shown}`} retry={version.reload} />}
            {version.data && version.data.version === shown && <AgentSpecView spec={version.data.spec} />}
            {!version.data && !version.error && <Spinner />}
          </section>
          {from && to && <DiffCard name={name} from={from} to={to} onClose={() => set({ from: '', to: '' })} />}
        </div>
        <aside className="card agent-versions">
          <h2>Versions ({versions.length})</h2>
          <p className="muted small">Click a version to read its spec; pick two to compare them.</p>
          <table className="plain-table" aria-label="Versions">
            <thead><tr><th>Old</th><th>New</th><th>Version</th><th>Recorded</th></tr></thead>
            <tbody>
              {versions.map((v) => (
                <tr key={v.version} data-version={v.version} className={v.version === shown ? 'picked' : ''}>
                  <td><input type="radio" name="diff-from" aria-label={`Compare from ${v.version}`} checked={from === v.version}
                    onChange={() => set({ from: v.version })} /></td>
                  <td><input type="radio" name="diff-to" aria-label={`Compare to ${v.version}`} checked={to === v.version}
                    onChange={() => set({ to: v.version })} /></td>
                  <td><button className="link inline" onClick={() => set({ version: v.version })}>
                    <span className="version">{v.version}</span></button></td>
                  <td title={fullTime(v.created_at)}>{ago(v.created_at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {versions.length > 1 && !(from && to) && (
            <button onClick={() => set({ from: versions[1].version, to: versions[0].version })}>
              Compare the last two versions</button>)}
        </aside>
      </div>
    </div>
  )
}

function DiffCard({ name, from, to, onClose }: { name: string; from: string; to: string; onClose: () => void }) {
  const diff = useQuery(`agent-diff:${name}:${from}:${to}`, (signal) => unwrap(api.GET('/api/agents/{name}/diff', {
    params: { path: { name }, query: { from, to } }, signal,
  })))
  return (
    <section className="card">
      <div className="panel-head">
        <h2>Changes from <span className="version">{from}</span> to <span className="version">{to}</span></h2>
        <button className="link" onClick={onClose}>Close</button>
      </div>
      {from === to && <p className="muted">Pick two different versions.</p>}
      {diff.error && <ErrorBox error={diff.error} what="the diff" retry={diff.reload} />}
      {diff.data && from !== to && <SpecDiff changes={diff.data.changes} />}
    </section>
  )
}

// A multi-turn run waiting this long for its next message closes (the API's default).
const IDLE_TIMEOUT_SECONDS = 86_400

/** The first message (and template variables) of a new run; the page moves to the run once it started. */
function StartRun({ agent, variables }: { agent: string; variables: Record<string, string> }) {
  const navigate = useNavigate()
  const [input, setInput] = useState('')
  const [values, setValues] = useState<Record<string, string>>({})
  const [multiTurn, setMultiTurn] = useState(true)
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState('')
  const start = async () => {
    setBusy(true)
    setError('')
    try {
      const chosen = Object.fromEntries(Object.entries(values).filter(([, v]) => v.trim()))
      const run = await unwrap(api.POST('/api/agent-runs', { body: {
        agent, input, variables: chosen, multi_turn: multiTurn, stream: true, idle_timeout_seconds: IDLE_TIMEOUT_SECONDS,
      } }))
      navigate(`/runs/${run.run_id}`)
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err))
      setBusy(false)
    }
  }
  return (
    <section className="card start-run">
      <h2>Start a run</h2>
      <form onSubmit={(e) => { e.preventDefault(); void start() }}>
        <textarea aria-label="First message" placeholder="The user's first message…" rows={3} value={input}
          onChange={(e) => setInput(e.target.value)} disabled={busy} />
        {Object.keys(variables).length > 0 && (
          <div className="form-grid">
            {Object.entries(variables).map(([k, v]) => (
              <label key={k} className="field"><span>{k}</span>
                <input aria-label={`Variable ${k}`} placeholder={v} value={values[k] ?? ''} disabled={busy}
                  onChange={(e) => setValues({ ...values, [k]: e.target.value })} />
              </label>
            ))}
          </div>
        )}
        <div className="form-actions">
          <label className="field" title="Stay open for further messages after the answer">
            <input type="checkbox" checked={multiTurn} onChange={(e) => setMultiTurn(e.target.checked)} disabled={busy} />
            <span>Multi-turn</span>
          </label>
          <button className="primary" type="submit" disabled={busy || !input.trim()}>{busy ? 'Starting…' : 'Start run'}</button>
          <span className="muted small">Runs the agents folder's spec of {agent} on the server's workers.</span>
        </div>
        {error && <div className="error-box" role="alert">Could not start the run: {error}</div>}
      </form>
    </section>
  )
}
