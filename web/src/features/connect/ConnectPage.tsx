import { useState } from 'react'
import { useNavigate } from 'react-router'
import { connect, connections } from '../../api/auth'
import { ErrorBox } from '../../components/Feedback'

/** The first screen without a key: paste one (from `neon up`'s output or `neon keys create`). */
export function ConnectPage() {
  const navigate = useNavigate()
  const [key, setKey] = useState('')
  const [error, setError] = useState<Error | null>(null)
  const [busy, setBusy] = useState(false)
  const adding = connections().length > 0
  return (
    <div className="connect">
      <div className="connect-card">
        <h1><span className="brand-mark">◆</span> {adding ? 'Add a project' : 'Welcome to Neon'}</h1>
        <p>Paste an API key to open its project. <code>neon up</code> printed one on its first start (it is also in
          <code>~/.neon/credentials.json</code>); <code>neon keys create</code> makes another.</p>
        <form onSubmit={async (e) => {
          e.preventDefault()
          setBusy(true)
          try {
            await connect(key)
            navigate('/traces')
          } catch (err) {
            setError(err as Error)
          } finally {
            setBusy(false)
          }
        }}>
          <input aria-label="API key" type="password" autoFocus placeholder="neon_sk_…" value={key}
            onChange={(e) => setKey(e.target.value)} />
          <button type="submit" className="primary" disabled={busy}>{busy ? 'Checking…' : 'Connect'}</button>
        </form>
        {error && <ErrorBox error={error} what="the project" />}
        {adding && <button className="link" onClick={() => navigate(-1)}>Cancel</button>}
      </div>
    </div>
  )
}
