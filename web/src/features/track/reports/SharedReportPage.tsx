import { useEffect, useState } from 'react'
import { useParams } from 'react-router'
import { api, unwrap, type Schemas } from '../../../api/client'
import { readThroughShareLink } from '../../../api/shared'
import { ErrorBox } from '../../../components/Feedback'
import { ReportView } from './ReportView'

/** A report opened from its share link: no key, no navigation, read-only. */
export function SharedReportPage() {
  const { token = '' } = useParams()
  const [report, setReport] = useState<Schemas['SharedReport'] | null>(null)
  const [error, setError] = useState<Error | null>(null)
  const [routed, setRouted] = useState(false)
  useEffect(() => {
    const stop = readThroughShareLink(token)
    setRouted(true)
    return () => { stop(); setRouted(false) }
  }, [token])
  useEffect(() => {
    unwrap(api.GET('/api/shared/reports/{token}', { params: { path: { token } } })).then(setReport, setError)
  }, [token])
  return (
    <div className="shared-report">
      <header className="shared-head"><span className="brand"><span className="brand-mark" aria-hidden>◆</span> Neon</span>
        <span className="muted small">a shared report</span></header>
      <main className="page track-page report-page">
        {error && <ErrorBox error={error} what="report" />}
        {report && <h1>{report.name}</h1>}
        {report && routed && <ReportView report={report} />}
      </main>
    </div>
  )
}
