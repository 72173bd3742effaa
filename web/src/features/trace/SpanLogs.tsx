import { api, unwrap, type Schemas } from '../../api/client'
import { ErrorBox, Spinner } from '../../components/Feedback'
import { Payload } from '../../components/JsonView'
import { fullTime } from '../../lib/format'
import { useQuery } from '../../lib/useQuery'

type LogRecord = Schemas['LogRecord']
const SHOWN = 200

/** OTLP severity number → its range's name (1-4 TRACE … 21-24 FATAL). */
export function severityName(record: Pick<LogRecord, 'severity_number' | 'severity_text'>): string {
  if (record.severity_text) return record.severity_text
  const names = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL']
  return record.severity_number ? names[Math.floor((record.severity_number - 1) / 4)] ?? '' : ''
}

/** The span's log records (POST /v1/logs), oldest first: GenAI events too, also those shown as the conversation.
 * With `spanId` '' (shown on the root span): the trace's records that belong to no span. */
export function SpanLogs({ traceId, spanId, title = 'Logs' }: { traceId: string; spanId: string; title?: string }) {
  const logs = useQuery(`logs/${traceId}/${spanId}`, (signal) => unwrap(api.GET('/api/logs', {
    params: { query: { trace_id: traceId, span_id: spanId, order: 'asc', limit: SHOWN } }, signal,
  })))
  if (logs.error) return <ErrorBox error={logs.error} what="this span's logs" retry={logs.reload} />
  if (logs.loading && !logs.data) return <Spinner label="Loading logs…" />
  const records = logs.data?.logs ?? []
  if (!records.length) return null
  return (
    <section aria-label={title}>
      <h3>{title} <span className="muted">({records.length}{logs.data?.next_cursor ? '+' : ''})</span></h3>
      <ol className="span-logs">
        {records.map((r) => {
          const severity = severityName(r)
          const attributes = Object.entries(r.attributes)
          return (
            <li key={r.record_id} className="log-record">
              <div className="log-head">
                <span className="muted" title={r.time}>{fullTime(r.time)}</span>
                {severity && <span className={`severity severity-${severity.toLowerCase().replace(/[0-9]/g, '')}`}>{severity}</span>}
                {r.event_name && <strong>{r.event_name}</strong>}
              </div>
              {r.body_type === 'json' ? <Payload text={r.body} /> : r.body && <div className="log-body">{r.body}</div>}
              {attributes.length > 0 && (
                <details>
                  <summary className="muted">{attributes.length} attribute{attributes.length > 1 ? 's' : ''}</summary>
                  <table className="attributes">
                    <tbody>
                      {attributes.sort(([a], [b]) => a.localeCompare(b)).map(([key, value]) => (
                        <tr key={key}><th>{key}</th><td>{value}</td></tr>
                      ))}
                    </tbody>
                  </table>
                </details>
              )}
            </li>
          )
        })}
      </ol>
      {logs.data?.next_cursor && <p className="muted">The first {SHOWN} records are shown; GET /api/logs lists all.</p>}
    </section>
  )
}
