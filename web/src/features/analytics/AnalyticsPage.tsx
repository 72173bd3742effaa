import { useMemo } from 'react'
import { useSearchParams } from 'react-router'
import { api, unwrap, type Analytics } from '../../api/client'
import { PALETTE, TimeChart, type Series } from '../../components/Chart'
import { Empty, ErrorBox, Spinner } from '../../components/Feedback'
import { TimeRangePicker, windowOf } from '../../components/TimeRange'
import { cost, count, durationMs, percent, score } from '../../lib/format'
import { useQuery } from '../../lib/useQuery'

const BUCKETS = ['', '1m', '5m', '15m', '1h', '6h', '1d'] as const
type Bucket = Exclude<(typeof BUCKETS)[number], ''>

export function AnalyticsPage() {
  const [params, setParams] = useSearchParams()
  const bucket = (params.get('bucket') ?? '') as Bucket | ''
  const result = useQuery(`analytics?${params}`, (signal) => unwrap(api.GET('/api/analytics', {
    params: { query: { ...windowOf(params, Date.now()), ...(bucket ? { bucket } : {}) } }, signal,
  })))
  const data = result.data
  return (
    <div className="page analytics-page">
      <div className="page-head">
        <h1>Analytics</h1>
        <div className="filter-row">
          <TimeRangePicker params={params} onChange={setParams} />
          <label className="field">
            <span>Bucket</span>
            <select aria-label="Bucket" value={bucket} onChange={(e) => {
              const next = new URLSearchParams(params)
              if (e.target.value) next.set('bucket', e.target.value)
              else next.delete('bucket')
              setParams(next)
            }}>
              {BUCKETS.map((b) => <option key={b} value={b}>{b || `auto${data ? ` (${data.bucket})` : ''}`}</option>)}
            </select>
          </label>
        </div>
      </div>
      {result.error && <ErrorBox error={result.error} what="analytics" retry={result.reload} />}
      {result.loading && !data && <Spinner />}
      {data && (data.series.length === 0 ? (
        <Empty title="No traces in this time range">
          <p>Pick a longer range, or send traces: the charts fill in as they arrive.</p>
        </Empty>
      ) : <Dashboard data={data} />)}
    </div>
  )
}

function Dashboard({ data }: { data: Analytics }) {
  const charts = useMemo(() => chartData(data), [data])
  const totals = data.series.reduce(
    (t, p) => ({ traces: t.traces + p.traces, spans: t.spans + p.spans, errors: t.errors + p.errors,
      tokens: t.tokens + p.total_tokens, cost: t.cost + (p.cost ?? 0) }),
    { traces: 0, spans: 0, errors: 0, tokens: 0, cost: 0 })
  return (
    <>
      <div className="stat-cards">
        <Stat label="Traces" value={count(totals.traces)} />
        <Stat label="Error rate (spans)" value={percent(totals.spans ? totals.errors / totals.spans : 0)} />
        <Stat label="Tokens" value={count(totals.tokens)} />
        <Stat label="Cost" value={cost(totals.cost)} />
      </div>
      <div className="chart-grid">
        <TimeChart title="Traces and errors" x={charts.x} series={charts.volume} format={(v) => count(Math.round(v))} />
        <TimeChart title="Trace latency" x={charts.x} series={charts.latency} format={(v) => durationMs(v)} />
        <TimeChart title="Tokens by model" x={charts.x} series={charts.tokens} format={(v) => count(Math.round(v))} />
        <TimeChart title="Cost by model" x={charts.x} series={charts.cost} format={(v) => cost(v)} />
        {charts.scores.length > 0 && (
          <TimeChart title="Score averages" x={charts.x} series={charts.scores} format={(v) => score(v)} />
        )}
      </div>
      <div className="breakdowns">
        <Breakdown title="Latency by span type" rows={data.latency_by.span_type} />
        <Breakdown title="Latency by model" rows={data.latency_by.model} />
        <Breakdown title="Latency by tool" rows={data.latency_by.tool} />
      </div>
    </>
  )
}

function Stat({ label, value }: { label: string; value: string }) {
  return <div className="stat"><div className="stat-value">{value}</div><div className="stat-label">{label}</div></div>
}

function Breakdown({ title, rows }: { title: string; rows: Analytics['latency_by']['model'] }) {
  if (!rows.length) return null
  return (
    <section className="breakdown">
      <h3>{title}</h3>
      <table className="plain-table">
        <thead><tr><th></th><th>Calls</th><th>Errors</th><th>p50</th><th>p95</th><th>p99</th></tr></thead>
        <tbody>
          {rows.map((r) => (
            <tr key={r.key}>
              <td>{r.key || '(none)'}</td><td className="num">{count(r.calls)}</td>
              <td className="num">{r.errors || ''}</td><td className="num">{durationMs(r.p50_ms)}</td>
              <td className="num">{durationMs(r.p95_ms)}</td><td className="num">{durationMs(r.p99_ms)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  )
}

const BUCKET_SECONDS: Record<string, number> = { '1m': 60, '5m': 300, '15m': 900, '1h': 3600, '6h': 21_600, '1d': 86_400 }

/** Every bucket start of the window, so that empty buckets show as zero (or a gap), not as a line across them. */
function bucketsOf(data: Analytics): number[] {
  const step = BUCKET_SECONDS[data.bucket] ?? 3600
  const from = Math.floor(Date.parse(data.from) / 1000 / step) * step
  const to = Date.parse(data.to) / 1000
  const all: number[] = []
  for (let t = from; t < to && all.length < 5000; t += step) all.push(t)
  return all
}

/** Align the API's per-bucket rows into uPlot columns (one x array, one value array per series). */
function chartData(data: Analytics) {
  const x = bucketsOf(data)
  const at = <T,>(rows: T[], key: (r: T) => number) => new Map(rows.map((r) => [key(r), r]))
  const series = at(data.series, (p) => p.bucket)
  const volume: Series[] = [
    { label: 'traces', values: x.map((b) => series.get(b)?.traces ?? 0), color: PALETTE[0], bars: true },
    { label: 'errors', values: x.map((b) => series.get(b)?.errors ?? 0), color: PALETTE[3] },
  ]
  const latencyRows = at(data.trace_latency, (p) => p.bucket)
  const latency: Series[] = (['p50_ms', 'p95_ms', 'p99_ms'] as const).map((q, i) => ({
    label: q.slice(0, 3), values: x.map((b) => latencyRows.get(b)?.[q] ?? null), color: [PALETTE[2], PALETTE[1], PALETTE[3]][i],
  }))
  const models = [...new Set(data.usage_by_model.map((r) => r.model))]
  const pivot = (field: 'total_tokens' | 'cost') => models.map((model, i) => {
    const byBucket = new Map(data.usage_by_model.filter((r) => r.model === model).map((r) => [r.bucket, r[field]]))
    return { label: model, values: x.map((b) => byBucket.get(b) ?? 0), color: PALETTE[i % PALETTE.length] }
  })
  const names = [...new Set(data.scores.map((r) => r.name))]
  const scores = names.map((name, i) => {
    const byBucket = new Map(data.scores.filter((r) => r.name === name).map((r) => [r.bucket, r.average]))
    return { label: name, values: x.map((b) => byBucket.get(b) ?? null), color: PALETTE[i % PALETTE.length] }
  })
  return { x, volume, latency, tokens: pivot('total_tokens'), cost: pivot('cost'), scores }
}
