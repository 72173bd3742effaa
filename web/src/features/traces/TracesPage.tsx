import { useVirtualizer } from '@tanstack/react-virtual'
import { useCallback, useEffect, useRef, useState } from 'react'
import { Link, useNavigate, useSearchParams } from 'react-router'
import { api, unwrap } from '../../api/client'
import { followTraces, type LiveTrace } from '../../api/live'
import { Empty, ErrorBox } from '../../components/Feedback'
import { ago, count, duration, fullTime, score, traceCost } from '../../lib/format'
import { FilterBar } from './FilterBar'
import { notLive, toLiveParams, toQuery } from './filters'
import type { components } from '../../api/schema'

type Row = components['schemas']['TraceRow'] & { live?: boolean }
type Sort = 'time' | 'duration' | 'tokens' | 'cost'

const ROW_HEIGHT = 44

export function TracesPage() {
  const [params, setParams] = useSearchParams()
  const navigate = useNavigate()
  const [rows, setRows] = useState<Row[]>([])
  const [cursor, setCursor] = useState<string | null>(null)
  const [loading, setLoading] = useState(true)
  const [error, setError] = useState<Error | null>(null)
  const [live, setLive] = useState(false)
  const [liveState, setLiveState] = useState('')
  const filterKey = params.toString()
  const generation = useRef(0)

  const load = useCallback(async (after: string | null) => {
    const mine = generation.current
    setLoading(true)
    try {
      const query = { ...toQuery(params, Date.now()), ...(after ? { cursor: after } : {}) }
      const page = await unwrap(api.GET('/api/traces', { params: { query } }))
      if (mine !== generation.current) return
      setRows((old) => (after ? [...old, ...page.traces] : page.traces))
      setCursor(page.next_cursor)
      setError(null)
    } catch (err) {
      if (mine === generation.current) setError(err as Error)
    } finally {
      if (mine === generation.current) setLoading(false)
    }
  }, [params])

  useEffect(() => {
    generation.current += 1
    setRows([])
    setCursor(null)
    void load(null)
  }, [filterKey, load])

  // Live mode: new traces stream in over SSE; the first page is re-read shortly after to fill in totals.
  const refreshTimer = useRef<number | undefined>(undefined)
  const refreshTop = useCallback(() => {
    window.clearTimeout(refreshTimer.current)
    refreshTimer.current = window.setTimeout(async () => {
      try {
        const page = await unwrap(api.GET('/api/traces', { params: { query: toQuery(params, Date.now()) } }))
        const fresh = new Set(page.traces.map((t) => t.trace_id))
        setRows((old) => {
          // a row stays highlighted while it is new: streamed in, or first seen in this refresh
          const shown = new Map(old.map((o) => [o.trace_id, o]))
          const top = page.traces.map((t) => ({ ...t, live: shown.get(t.trace_id)?.live ?? !shown.has(t.trace_id) }))
          return [...top, ...old.filter((o) => !fresh.has(o.trace_id) && !o.live)]
        })
      } catch (err) {
        setError(err as Error)
      }
    }, 800)
  }, [params])

  useEffect(() => {
    if (!live) return
    const controller = new AbortController()
    void followTraces(toLiveParams(params), {
      onTrace: (trace) => {
        setRows((old) => (old.some((o) => o.trace_id === trace.trace_id) ? old : [provisional(trace), ...old]))
        refreshTop()
      },
      onSpans: () => refreshTop(),
      onState: (state, message) => setLiveState(message ? `${state}: ${message}` : state),
    }, controller.signal)
    return () => {
      controller.abort()
      window.clearTimeout(refreshTimer.current)
      setLiveState('')
    }
  }, [live, filterKey, params, refreshTop])

  // Marks for bench/ui_bench.py: when the list first shows rows after a navigation or a filter change.
  useEffect(() => {
    if (rows.length && !loading) performance.mark('neon:traces-rows')
  }, [rows, loading])

  const scroller = useRef<HTMLDivElement>(null)
  const virtualizer = useVirtualizer({
    count: rows.length,
    getScrollElement: () => scroller.current,
    estimateSize: () => ROW_HEIGHT,
    overscan: 12,
  })
  const items = virtualizer.getVirtualItems()
  const lastIndex = items.length ? items[items.length - 1].index : 0
  useEffect(() => {
    if (cursor && !loading && lastIndex >= rows.length - 20) void load(cursor)
  }, [lastIndex, cursor, loading, rows.length, load])

  const sort = (params.get('sort') ?? 'time') as Sort
  const order = params.get('order') ?? 'desc'
  const setSort = (key: Sort) => {
    const next = new URLSearchParams(params)
    if (sort === key) next.set('order', order === 'desc' ? 'asc' : 'desc')
    else {
      next.set('sort', key)
      next.set('order', 'desc')
    }
    if (key === 'time' && next.get('order') === 'desc') {
      next.delete('sort')
      next.delete('order')
    }
    setParams(next)
  }
  const header = (key: Sort, label: string) => (
    <button className={`th sortable ${sort === key ? 'sorted' : ''}`} onClick={() => setSort(key)}
      aria-sort={sort === key ? (order === 'asc' ? 'ascending' : 'descending') : 'none'}>
      {label}{sort === key ? (order === 'asc' ? ' ↑' : ' ↓') : ''}
    </button>
  )
  const filtered = [...params.keys()].some((k) => !['range', 'sort', 'order'].includes(k))
  const unsupported = notLive(params)

  return (
    <div className="page traces-page">
      <div className="page-head">
        <h1>Traces</h1>
        <div className="live-toggle">
          <Link className="save-dataset" to={`/datasets?traces=${encodeURIComponent(params.toString())}`}
            title="Make a dataset of these traces' inputs and outputs">Save as dataset</Link>
          {live && <span className={`live-dot ${liveState === 'live' ? 'on' : ''}`} title={liveState}>{liveState === 'live' ? 'Live' : liveState}</span>}
          <button
            className={live ? 'primary' : 'secondary'}
            onClick={() => setLive(!live)}
            disabled={sort !== 'time' || order !== 'desc'}
            title={sort !== 'time' ? 'Live mode shows newest first: sort by time' : 'Stream new traces as they arrive'}
          >
            {live ? 'Stop live' : 'Live'}
          </button>
        </div>
      </div>
      <FilterBar params={params} onChange={setParams} />
      {live && unsupported.length > 0 && (
        <div className="notice">Live updates apply {unsupported.join(', ')} when the list refreshes.</div>
      )}
      {error && <ErrorBox error={error} what="traces" retry={() => void load(null)} />}
      <div className="table traces-table" role="table" aria-label="Traces" aria-rowcount={rows.length}>
        <div className="tr thead" role="row">
          <div className="th">Name</div>
          {header('time', 'Time')}
          {header('duration', 'Duration')}
          <div className="th">Status</div>
          {header('tokens', 'Tokens')}
          {header('cost', 'Cost')}
          <div className="th">Model</div>
          <div className="th">Scores</div>
        </div>
        <div className="tbody" ref={scroller}>
          {!loading && !error && rows.length === 0 && (
            filtered ? (
              <Empty title="No traces match these filters">
                <p>Widen the time range or remove a filter.</p>
              </Empty>
            ) : (
              <Empty title="No traces yet">
                <p>Send traces from your agent with the Neon SDK or any OpenTelemetry exporter; they appear here
                  within a second. <Link to="/settings#setup">Setup snippets</Link> show how, with your key.</p>
              </Empty>
            )
          )}
          <div style={{ height: virtualizer.getTotalSize(), position: 'relative' }}>
            {items.map((item) => {
              const row = rows[item.index]
              return (
                <div
                  key={row.trace_id}
                  role="row"
                  className={`tr trace-row ${row.status === 'error' ? 'is-error' : ''} ${row.live ? 'is-new' : ''}`}
                  style={{ position: 'absolute', top: 0, transform: `translateY(${item.start}px)`, height: ROW_HEIGHT }}
                  onClick={() => navigate(`/traces/${row.trace_id}`)}
                  data-trace-id={row.trace_id}
                >
                  <div className="td name" role="cell">
                    <Link to={`/traces/${row.trace_id}`} onClick={(e) => e.stopPropagation()}>{row.name || '(unnamed)'}</Link>
                    <span className="sub">{[row.agent_id && `${row.agent_id}${row.agent_version ? `@${row.agent_version}` : ''}`, row.session_id, row.user_id].filter(Boolean).join(' · ')}</span>
                  </div>
                  <div className="td" role="cell" title={fullTime(row.start_time)}>{ago(row.start_time)}</div>
                  <div className="td num" role="cell">{row.duration_ns === undefined || row.duration_ns === null ? '…' : duration(row.duration_ns)}</div>
                  <div className="td" role="cell"><StatusBadge status={row.status} errors={row.error_count} /></div>
                  <div className="td num" role="cell">{count(row.total_tokens)}</div>
                  <CostCell cost={row.cost} unpriced={row.unpriced_llm_calls} />
                  <div className="td model" role="cell">{row.models?.join(', ')}</div>
                  <div className="td scores" role="cell">
                    {Object.entries(row.scores ?? {}).slice(0, 3).map(([name, value]) => (
                      <span key={name} className={`score-pill ${value < 0.5 ? 'low' : ''}`} title={name}>{name} {score(value)}</span>
                    ))}
                  </div>
                </div>
              )
            })}
          </div>
          {loading && <div className="loading-row">Loading…</div>}
        </div>
      </div>
    </div>
  )
}

function CostCell({ cost, unpriced }: { cost: number | null; unpriced: number }) {
  const shown = traceCost(cost, unpriced)
  return <div className={`td num ${shown.title ? 'cost-partial' : ''}`} role="cell" title={shown.title}>{shown.text}</div>
}

export function StatusBadge({ status, errors }: { status: string; errors?: number }) {
  if (status === 'unset') return <span className="status status-unset" title="No status set (no error recorded)">–</span>
  return (
    <span className={`status status-${status}`}>
      {status === 'error' ? `error${errors && errors > 1 ? ` ×${errors}` : ''}` : status}
    </span>
  )
}

function provisional(trace: LiveTrace): Row {
  return {
    ...trace, end_time: trace.start_time, root_span_id: trace.span_id, span_count: 0, error_count: 0,
    llm_call_count: 0, tool_call_count: 0, input_tokens: 0, output_tokens: 0, total_tokens: 0, cost: null,
    priced_span_count: 0, unpriced_llm_calls: 0, tags: [], models: [], tool_names: [], scores: {}, live: true,
  }
}
