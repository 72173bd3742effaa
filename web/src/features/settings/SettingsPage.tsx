import { useState } from 'react'
import { useNavigate } from 'react-router'
import { connections, current, forget } from '../../api/auth'
import { api, unwrap, type ApiKey } from '../../api/client'
import { CopyBlock } from '../../components/CopyBlock'
import { ErrorBox, Spinner } from '../../components/Feedback'
import { ago, fullTime } from '../../lib/format'
import { useQuery } from '../../lib/useQuery'

export function SettingsPage() {
  const here = current()
  const navigate = useNavigate()
  const [created, setCreated] = useState<{ key: ApiKey; secret: string } | null>(null)
  return (
    <div className="page settings-page">
      <h1>Settings</h1>
      <section className="card">
        <h2>Projects</h2>
        <p className="muted">This browser holds one API key per project. A key opens its own project only.
          Create a project with <code>neon projects create NAME</code>, then add it with one of its keys.</p>
        <table className="plain-table">
          <thead><tr><th>Project</th><th>Id</th><th></th></tr></thead>
          <tbody>
            {connections().map((c) => (
              <tr key={c.projectId}>
                <td>{c.projectName}{c.projectId === here?.projectId && <span className="tag">current</span>}</td>
                <td><code>{c.projectId}</code></td>
                <td className="actions">
                  <button className="link" onClick={() => {
                    forget(c.projectId)
                    navigate(current() ? '/settings' : '/connect')
                  }}>Disconnect</button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        <button className="secondary" onClick={() => navigate('/connect')}>Add a project</button>
      </section>
      <Keys onCreated={setCreated} created={created} />
      <Setup secret={created?.secret} />
    </div>
  )
}

function Keys({ created, onCreated }: {
  created: { key: ApiKey; secret: string } | null
  onCreated: (c: { key: ApiKey; secret: string } | null) => void
}) {
  const keys = useQuery('keys', (signal) => unwrap(api.GET('/api/keys', { signal })))
  const [name, setName] = useState('')
  const [error, setError] = useState<Error | null>(null)
  const [busy, setBusy] = useState(false)
  const create = async () => {
    setBusy(true)
    try {
      onCreated(await unwrap(api.POST('/api/keys', { body: { name: name.trim() } })))
      setName('')
      setError(null)
      keys.reload()
    } catch (err) {
      setError(err as Error)
    } finally {
      setBusy(false)
    }
  }
  const revoke = async (key: ApiKey) => {
    const mine = key.prefix === current()?.key.slice(0, key.prefix.length)
    const warning = mine ? '\n\nThis is the key this browser uses: you will need another key to continue.' : ''
    if (!window.confirm(`Revoke the key "${key.name || key.prefix}"? Clients using it stop working at once.${warning}`)) return
    try {
      await unwrap(api.DELETE('/api/keys/{key_id}', { params: { path: { key_id: key.id } } }))
      keys.reload()
    } catch (err) {
      setError(err as Error)
    }
  }
  return (
    <section className="card">
      <h2>API keys</h2>
      <form className="filter-row" onSubmit={(e) => { e.preventDefault(); void create() }}>
        <input aria-label="New key name" placeholder="What is it for? e.g. ci, prod-agent" value={name}
          maxLength={200} onChange={(e) => setName(e.target.value)} />
        <button type="submit" className="primary" disabled={busy}>Create key</button>
      </form>
      {created && (
        <div className="new-key" role="status">
          <strong>Key "{created.key.name || created.key.prefix}" created.</strong> Copy it now: it is shown only once.
          <CopyBlock code={created.secret} />
          <button className="link" onClick={() => onCreated(null)}>I have stored it</button>
        </div>
      )}
      {error && <ErrorBox error={error} what="API keys" />}
      {keys.error && <ErrorBox error={keys.error} what="API keys" retry={keys.reload} />}
      {keys.loading && !keys.data && <Spinner />}
      {keys.data && (
        <table className="plain-table keys-table">
          <thead><tr><th>Name</th><th>Key</th><th>Created</th><th>Last used</th><th>Status</th><th></th></tr></thead>
          <tbody>
            {keys.data.map((k) => (
              <tr key={k.id} className={k.active ? '' : 'revoked'} data-key-id={k.id}>
                <td>{k.name || <span className="muted">(no name)</span>}</td>
                <td><code>{k.prefix}…</code></td>
                <td title={fullTime(k.created_at)}>{ago(k.created_at)}</td>
                <td>{k.last_used_at ? ago(k.last_used_at) : <span className="muted">never</span>}</td>
                <td>{k.active ? <span className="status status-ok">active</span> : <span className="status status-error">revoked</span>}</td>
                <td className="actions">{k.active && <button className="link danger" onClick={() => void revoke(k)}>Revoke</button>}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  )
}

function Setup({ secret }: { secret?: string }) {
  const origin = window.location.origin
  const key = secret ?? '<your API key>'
  return (
    <section className="card" id="setup">
      <h2>Send traces</h2>
      <p className="muted">{secret ? 'The snippets below carry the key you just created.' : 'Create a key above and the snippets fill it in; or use the key `neon up` printed.'}</p>
      <CopyBlock label="Neon SDK (Python)" code={`pip install neon   # from this repository: uv pip install ./sdk
export NEON_BASE_URL=${origin}
export NEON_API_KEY=${key}

import neon
neon.configure()
with neon.trace("my-agent", input=question, session_id="chat-1"):
    with neon.generation("answer", model="gpt-4o", provider="openai", messages=messages) as g:
        g.set_output(reply).set_usage(input_tokens=812, output_tokens=64)
neon.flush()`} />
      <CopyBlock label="Any OpenTelemetry SDK (OTLP/HTTP exporter)" code={`export OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=${origin}/v1/traces
export OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=http/protobuf
export OTEL_EXPORTER_OTLP_TRACES_HEADERS="Authorization=Bearer%20${key}"`} />
      <CopyBlock label="curl (native JSON)" code={`curl -X POST ${origin}/api/traces/ingest \\
  -H "Authorization: Bearer ${key}" -H "Content-Type: application/json" \\
  -d '{"traces": [{"name": "hello", "input": "hi", "output": "hello!",
       "spans": [{"name": "llm", "type": "generation", "model": "gpt-4o-mini",
                  "input_tokens": 12, "output_tokens": 3, "duration_ms": 420}]}]}'`} />
    </section>
  )
}
