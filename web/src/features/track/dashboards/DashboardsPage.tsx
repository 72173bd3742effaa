import { useEffect, useState } from 'react'
import { Link, useNavigate } from 'react-router'
import { api, ApiError, unwrap, type Schemas } from '../../../api/client'
import { Empty, ErrorBox } from '../../../components/Feedback'
import { TrackNav } from '../TrackNav'
import { when } from './DashboardPage'

type Summary = Schemas['DashboardSummary']

/** The project's dashboards, and a form to make a new one. */
export function DashboardsPage() {
  const [dashboards, setDashboards] = useState<Summary[] | null>(null)
  const [error, setError] = useState<Error | null>(null)
  const [name, setName] = useState('')
  const [refused, setRefused] = useState<string | null>(null)
  const navigate = useNavigate()
  const load = () => unwrap(api.GET('/api/track/dashboards')).then((a) => setDashboards(a.dashboards), setError)
  useEffect(() => void load(), [])
  const create = async () => {
    try {
      const made = await unwrap(api.POST('/api/track/dashboards', { body: { name: name.trim(), spec: { sections: [] } } }))
      navigate(`/track/dashboards/${made.id}`)
    } catch (err) {
      setRefused(err instanceof ApiError ? err.message : String(err))
    }
  }
  return (
    <div className="page track-page">
      <TrackNav />
      <div className="page-head">
        <h1>Dashboards</h1>
        <form className="head-actions" onSubmit={(e) => { e.preventDefault(); if (name.trim()) void create() }}>
          <input aria-label="Dashboard name" placeholder="New dashboard name" value={name}
            onChange={(e) => setName(e.target.value)} />
          <button type="submit" className="primary" disabled={!name.trim()}>New dashboard</button>
        </form>
      </div>
      {refused && <div className="nql-error small" role="alert">{refused}</div>}
      {error && <ErrorBox error={error} what="dashboards" retry={() => void load()} />}
      {dashboards && dashboards.length === 0 && (
        <Empty title="No dashboards yet"><p>A dashboard keeps charts and notes for the runs you choose, in sections you
          arrange; every save is a version you can go back to.</p></Empty>
      )}
      {dashboards && dashboards.length > 0 && (
        <table className="plain-table" aria-label="Dashboards">
          <thead><tr><th>Name</th><th>Version</th><th>Saved</th><th>By</th></tr></thead>
          <tbody>
            {dashboards.map((d) => (
              <tr key={d.id}>
                <td><Link to={`/track/dashboards/${d.id}`}>{d.name}</Link></td>
                <td className="num">{d.version}</td>
                <td>{when(d.saved_at)}</td>
                <td>{d.author || '–'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  )
}
