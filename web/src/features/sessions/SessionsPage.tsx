import { Link, useSearchParams } from 'react-router'
import { api, unwrap } from '../../api/client'
import { Empty, ErrorBox, Spinner } from '../../components/Feedback'
import { TimeRangePicker, windowOf } from '../../components/TimeRange'
import { ago, cost, count, duration, fullTime } from '../../lib/format'
import { useQuery } from '../../lib/useQuery'

export function SessionsPage() {
  const [params, setParams] = useSearchParams()
  const sessions = useQuery(`sessions?${params}`, (signal) => unwrap(api.GET('/api/sessions', {
    params: { query: { ...windowOf(params, Date.now(), '7d'), limit: 200 } }, signal,
  })))
  return (
    <div className="page">
      <div className="page-head">
        <h1>Sessions</h1>
        <TimeRangePicker params={params} onChange={setParams} fallback="7d" />
      </div>
      {sessions.error && <ErrorBox error={sessions.error} what="sessions" retry={sessions.reload} />}
      {sessions.loading && !sessions.data && <Spinner />}
      {sessions.data && sessions.data.sessions.length === 0 && (
        <Empty title="No sessions in this time range">
          <p>A session groups the traces of one conversation. Give your traces a session id —
            <code>neon.trace("chat", session_id="…")</code>, or the <code>session.id</code> /
            <code>gen_ai.conversation.id</code> attribute in OpenTelemetry — and they are grouped here.</p>
        </Empty>
      )}
      {sessions.data && sessions.data.sessions.length > 0 && (
        <table className="plain-table">
          <thead>
            <tr><th>Session</th><th>Last active</th><th>Traces</th><th>Duration</th><th>Errors</th><th>Tokens</th><th>Cost</th><th>Users</th></tr>
          </thead>
          <tbody>
            {sessions.data.sessions.map((s) => (
              <tr key={s.session_id}>
                <td><Link to={`/sessions/${encodeURIComponent(s.session_id)}`}>{s.session_id}</Link>
                  <div className="sub">{s.first_trace_name}</div></td>
                <td title={fullTime(s.last_end)}>{ago(s.last_end)}</td>
                <td className="num">{s.trace_count}</td>
                <td className="num">{duration(s.duration_ns)}</td>
                <td className="num">{s.error_count || ''}</td>
                <td className="num">{count(s.total_tokens)}</td>
                <td className="num">{cost(s.cost)}</td>
                <td>{s.user_ids.filter(Boolean).join(', ')}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  )
}
