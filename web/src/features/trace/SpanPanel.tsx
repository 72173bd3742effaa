import { api, unwrap, type Score, type Span } from '../../api/client'
import { ErrorBox, Spinner } from '../../components/Feedback'
import { Payload } from '../../components/JsonView'
import { cost, count, duration, fullTime, score } from '../../lib/format'
import { useQuery } from '../../lib/useQuery'
import { StatusBadge } from '../traces/TracesPage'
import { toMessages, type Message } from './messages'
import { SpanLogs } from './SpanLogs'
import { kindOf } from './tree'

/** Everything about one span: its conversation or tool call, payload, attributes, usage, scores and errors. */
export function SpanPanel({ span, scores, onClose }: { span: Span; scores: Score[]; onClose: () => void }) {
  const payload = useQuery(`${span.trace_id}/${span.span_id}`, (signal) => unwrap(api.GET(
    '/api/traces/{trace_id}/spans/{span_id}/payload',
    { params: { path: { trace_id: span.trace_id, span_id: span.span_id } }, signal },
  )))
  const mine = scores.filter((s) => s.span_id === span.span_id)
  const isLlm = span.span_type === 'generation'
  // a model and tokens: a span that could be priced (embeddings and unlabelled calls too)
  const priceable = Boolean(span.model) && (span.input_tokens > 0 || span.output_tokens > 0 || span.total_tokens > 0)
  const input = isLlm ? toMessages(payload.data?.input ?? '', 'user') : null
  const output = isLlm ? toMessages(payload.data?.output ?? '', 'assistant') : null
  const exceptions = span.events.filter((e) => e.name === 'exception')
  return (
    <aside className="span-panel" aria-label="Span details">
      <div className="panel-head">
        <div>
          <span className={`kind kind-${kindOf(span)}`}>{kindOf(span)}</span>
          <h2>{span.tool_name || span.name}</h2>
        </div>
        <button className="link" aria-label="Close span details" onClick={onClose}>✕</button>
      </div>
      <dl className="facts">
        <div><dt>Status</dt><dd><StatusBadge status={span.status} /></dd></div>
        <div><dt>Duration</dt><dd>{duration(span.duration_ns)}</dd></div>
        <div><dt>Start</dt><dd title={span.start_time}>{fullTime(span.start_time)}</dd></div>
        {span.model && <div><dt>Model</dt><dd>{span.model}{span.provider ? ` (${span.provider})` : ''}</dd></div>}
        {span.total_tokens > 0 && (
          <div><dt>Tokens</dt><dd>{count(span.input_tokens)} in · {count(span.output_tokens)} out
            {span.cached_input_tokens ? ` · ${count(span.cached_input_tokens)} cached` : ''}</dd></div>
        )}
        {(span.cost !== null || priceable || isLlm) && (
          <div><dt>Cost</dt>{span.cost !== null ? <dd>{cost(span.cost)}</dd>
            : priceable ? <dd className="cost-partial" title={`no known price for ${span.model}: a project can set one (PUT /api/model-prices/…)`}>no price</dd>
              : <dd className="muted" title="no model and tokens recorded">–</dd>}</div>
        )}
        {span.service && <div><dt>Service</dt><dd>{span.service}</dd></div>}
      </dl>
      {(span.status === 'error' || exceptions.length > 0) && (
        <section className="span-error" role="alert">
          <h3>Error</h3>
          {span.status_message && <p>{span.status_message}</p>}
          {exceptions.map((e, i) => (
            <pre key={i}>{String(e.attributes?.['exception.type'] ?? '')}: {String(e.attributes?.['exception.message'] ?? '')}
              {e.attributes?.['exception.stacktrace'] ? `\n${String(e.attributes['exception.stacktrace'])}` : ''}</pre>
          ))}
        </section>
      )}
      {mine.length > 0 && <ScoreList scores={mine} />}
      {payload.error && <ErrorBox error={payload.error} what="this span's input and output" retry={payload.reload} />}
      {payload.loading && !payload.data && <Spinner label="Loading input and output…" />}
      {payload.data && (isLlm && (input || output) ? (
        <section>
          <h3>Conversation</h3>
          <Conversation messages={[...(input ?? []), ...(output ?? [])]} outputFrom={input?.length ?? 0} />
        </section>
      ) : (
        <>
          <section>
            <h3>{span.span_type === 'tool' ? 'Tool input' : 'Input'}</h3>
            <Payload text={payload.data.input} empty="no input recorded" />
          </section>
          <section>
            <h3>{span.span_type === 'tool' ? 'Tool output' : 'Output'}</h3>
            <Payload text={payload.data.output} empty="no output recorded" />
          </section>
        </>
      ))}
      {payload.data && Object.keys(payload.data.attributes).length > 0 && (
        <section>
          <h3>Payload attributes</h3>
          <Attributes values={payload.data.attributes} />
        </section>
      )}
      <section>
        <h3>Attributes</h3>
        <Attributes values={{ trace_id: span.trace_id, span_id: span.span_id, ...span.attributes }} />
      </section>
      {span.events.length > exceptions.length && (
        <section>
          <h3>Events</h3>
          {span.events.filter((e) => e.name !== 'exception').map((e, i) => (
            <div key={i} className="event"><strong>{e.name}</strong> <Payload text={JSON.stringify(e.attributes ?? {})} /></div>
          ))}
        </section>
      )}
      <SpanLogs traceId={span.trace_id} spanId={span.span_id} />
      {!span.parent_span_id && <SpanLogs traceId={span.trace_id} spanId="" title="Trace logs (no span)" />}
    </aside>
  )
}

export function Conversation({ messages, outputFrom = Infinity }: { messages: Message[]; outputFrom?: number }) {
  return (
    <div className="conversation">
      {messages.map((m, i) => (
        <div key={i} className={`message role-${m.role} ${i >= outputFrom ? 'is-output' : ''}`}>
          <div className="message-role">{m.role}{i >= outputFrom ? ' · reply' : ''}</div>
          {m.text && <div className="message-text">{m.text}</div>}
          {m.toolCalls.map((call, j) => (
            <div key={j} className="tool-call">
              <span className="kind kind-tool">tool call</span> <strong>{call.name}</strong>
              <Payload text={call.arguments} empty="no arguments" />
            </div>
          ))}
        </div>
      ))}
    </div>
  )
}

function Attributes({ values }: { values: Record<string, string> }) {
  const entries = Object.entries(values).sort(([a], [b]) => a.localeCompare(b))
  return (
    <table className="attributes">
      <tbody>
        {entries.map(([key, value]) => (
          <tr key={key}><th>{key}</th><td>{value}</td></tr>
        ))}
      </tbody>
    </table>
  )
}

export function ScoreList({ scores }: { scores: Score[] }) {
  return (
    <section>
      <h3>Scores</h3>
      <ul className="score-list">
        {scores.map((s) => (
          <li key={s.score_id}>
            <span className={`score-pill ${typeof s.value === 'number' && s.value < 0.5 ? 'low' : ''}`}>{s.name} {score(s.value)}</span>
            {s.scorer && <span className="muted"> by {s.scorer}</span>}
            {s.reason && <div className="score-reason">{s.reason}</div>}
          </li>
        ))}
      </ul>
    </section>
  )
}
