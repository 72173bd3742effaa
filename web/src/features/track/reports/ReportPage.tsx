import { useCallback, useEffect, useState } from 'react'
import { Link, useNavigate, useParams } from 'react-router'
import { api, unwrap, type Schemas } from '../../../api/client'
import { CopyBlock } from '../../../components/CopyBlock'
import { ErrorBox } from '../../../components/Feedback'
import { useNotice } from '../dashboards/useNotice'
import { TrackNav } from '../TrackNav'
import { ReportView } from './ReportView'

type Report = Schemas['ReportOut']

/** A report of the project: read it, share it with a link (or revoke the link), print it, delete it. */
export function ReportPage() {
  const { id = '' } = useParams()
  const [report, setReport] = useState<Report | null>(null)
  const [error, setError] = useState<Error | null>(null)
  const [link, setLink] = useState<string | null>(null)
  const navigate = useNavigate()
  const load = useCallback(() => {
    unwrap(api.GET('/api/track/reports/{report_id}', { params: { path: { report_id: id } } }))
      .then((r) => { setReport(r); setError(null) }, setError)
  }, [id])
  useEffect(load, [load])
  const { notice, act } = useNotice()
  const path = { params: { path: { report_id: id } } }

  if (error) return <div className="page track-page"><TrackNav /><ErrorBox error={error} what="report" retry={load} /></div>
  if (!report) return <div className="page track-page"><TrackNav /><p className="muted">Loading…</p></div>
  return (
    <div className="page track-page report-page">
      <TrackNav />
      <div className="page-head">
        <h1>{report.name}</h1>
        <div className="head-actions no-print">
          <button onClick={() => void act(async () => {
            const made = await unwrap(api.POST('/api/track/reports/{report_id}/share', path))
            setLink(`${window.location.origin}${made.path}`)
            load()
          })}>{report.shared ? 'New share link' : 'Share'}</button>
          {report.shared && <button className="danger" onClick={() => void act(async () => {
            await unwrap(api.DELETE('/api/track/reports/{report_id}/share', path))
            setLink(null)
            load()
          })}>Revoke link</button>}
          <button onClick={() => window.print()}>Print</button>
          <button className="danger" onClick={() => void act(async () => {
            if (!window.confirm(`Delete the report “${report.name}”?`)) return
            await unwrap(api.DELETE('/api/track/reports/{report_id}', path))
            navigate('/track/reports')
          })}>Delete</button>
        </div>
      </div>
      <div className="share-state no-print small">
        {link ? <div className="share-link"><span>Anyone with this link can read the report and its runs' data, without a key
          (shown once):</span><CopyBlock code={link} /></div>
          : report.shared ? <span>Shared by link since {report.shared_at?.replace('T', ' ').slice(0, 19)}. <i>New share link</i> replaces it.</span>
            : <span className="muted">Not shared. <Link to="/track/reports">All reports</Link></span>}
      </div>
      {notice && <div className="nql-error small" role="alert">{notice}</div>}
      <ReportView report={report} />
    </div>
  )
}
