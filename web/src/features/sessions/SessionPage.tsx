import { Link, useParams } from 'react-router'
import { api, unwrap, type TraceSummary } from '../../api/client'
import { Empty, ErrorBox, Spinner } from '../../components/Feedback'
import { clock, cost, count, duration } from '../../lib/format'
import { useQuery } from '../../lib/useQuery'
import { Conversation } from '../trace/SpanPanel'
import { toMessages } from '../trace/messages'
import { StatusBadge } from '../traces/TracesPage'

type Turn = { trace: TraceSummary; input: string; output: string }

/** A session's traces in order, each shown as the exchange it was: what came in, what went out. */
export function SessionPage() {
  const { sessionId = '' } = useParams()
  const turns = useQuery(`session/${sessionId}`, async (signal): Promise<Turn[]> => {
    const traces: TraceSummary[] = []
    let cursor: string | undefined
    const from = new Date(Date.now() - 90 * 86_400_000).toISOString()
    do {
      const page = await unwrap(api.GET('/api/traces', {
        params: { query: { session_id: sessionId, from, sort: 'time', order: 'asc', limit: 200, cursor } }, signal,
      }))
      traces.push(...page.traces)
      cursor = page.next_cursor ?? undefined
    } while (cursor && traces.length < 1000)
    return Promise.all(traces.map(async (trace) => {
      const payload = await unwrap(api.GET('/api/traces/{trace_id}/spans/{span_id}/payload', {
        params: { path: { trace_id: trace.trace_id, span_id: trace.root_span_id } }, signal,
      })).catch(() => ({ input: '', output: '' }))
      return { trace, input: payload.input, output: payload.output }
    }))
  })
  return (
    <div className="page session-page">
      <Link className="back" to="/sessions">← Sessions</Link>
      <h1>Session <code>{sessionId}</code></h1>
      {turns.error && <ErrorBox error={turns.error} what="this session" retry={turns.reload} />}
      {turns.loading && !turns.data && <Spinner />}
      {turns.data && turns.data.length === 0 && <Empty title="No traces in this session in the last 90 days" />}
      {turns.data && turns.data.length > 0 && (
        <>
          <p className="muted">
            {turns.data.length} traces · {count(turns.data.reduce((n, t) => n + t.trace.total_tokens, 0))} tokens ·{' '}
            {cost(turns.data.reduce((n, t) => n + (t.trace.cost ?? 0), 0))}
          </p>
          <ol className="turns">
            {turns.data.map(({ trace, input, output }) => {
              const asked = toMessages(input, 'user') ?? []
              return (
              <li key={trace.trace_id} className="turn">
                <div className="turn-head">
                  <Link to={`/traces/${trace.trace_id}`}>{trace.name}</Link>
                  <span className="muted">{clock(trace.start_time)} · {duration(trace.duration_ns ?? 0)} · {count(trace.total_tokens)} tokens</span>
                  <StatusBadge status={trace.status} errors={trace.error_count} />
                </div>
                <Conversation messages={[...asked, ...(toMessages(output, 'assistant') ?? [])]} outputFrom={asked.length} />
              </li>
              )
            })}
          </ol>
        </>
      )}
    </div>
  )
}
