import { useEffect, useState } from 'react'
import { Link } from 'react-router'
import { api, unwrap, type Schemas } from '../../../api/client'
import { Empty, ErrorBox } from '../../../components/Feedback'
import { when } from '../dashboards/DashboardPage'
import { TrackNav } from '../TrackNav'

/** The project's reports. A report is made from a dashboard (Make report), over the runs it showed. */
export function ReportsPage() {
  const [reports, setReports] = useState<Schemas['ReportOut'][] | null>(null)
  const [error, setError] = useState<Error | null>(null)
  const load = () => unwrap(api.GET('/api/track/reports')).then((a) => setReports(a.reports), setError)
  useEffect(() => void load(), [])
  return (
    <div className="page track-page">
      <TrackNav />
      <div className="page-head"><h1>Reports</h1></div>
      {error && <ErrorBox error={error} what="reports" retry={() => void load()} />}
      {reports && reports.length === 0 && (
        <Empty title="No reports yet"><p>Open a <Link to="/track/dashboards">dashboard</Link> and choose <b>Make
          report</b>: its blocks over the runs in view, fixed, to share by link or print.</p></Empty>
      )}
      {reports && reports.length > 0 && (
        <table className="plain-table" aria-label="Reports">
          <thead><tr><th>Name</th><th>Runs</th><th>Updated</th><th>Shared</th></tr></thead>
          <tbody>
            {reports.map((r) => (
              <tr key={r.id}>
                <td><Link to={`/track/reports/${r.id}`}>{r.name}</Link></td>
                <td className="num">{r.runs.length}</td>
                <td>{when(r.updated_at)}</td>
                <td>{r.shared ? 'by link' : '–'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  )
}
