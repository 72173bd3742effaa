import { useEffect, useMemo, useRef, useState } from 'react'
import { Link, useSearchParams } from 'react-router'
import uPlot from 'uplot'
import 'uplot/dist/uPlot.min.css'
import { api, unwrap } from '../../api/client'
import { ErrorBox, Spinner } from '../../components/Feedback'
import { useQuery } from '../../lib/useQuery'
import { NoRuns } from './NoRuns'
import { columnsOf, useInView } from './MetricChart'
import type { components } from '../../api/schema'
import { number, pathMatcher, runColor, runPath, toNumber, useSelectedRuns } from './runs'

const MAX_RUNS = 100
const CHARTS_PAGE = 12

export type XAxis = 'step' | 'time' | 'relative'
export type ChartOptions = { x: XAxis; logX: boolean; logY: boolean; smoothing: number }
/** A zoom of x, in the server's units (steps, or epoch / relative milliseconds). */
type Zoom = { from: number; to: number }
/** One run's line as drawn: x in the chart's units, the bucket line, its band, and whether the points are exact. */
type RunLine = { runId: string; xs: number[]; ys: (number | null)[]; lows: (number | null)[]; highs: (number | null)[]; exact: boolean }

const X_LABELS: Record<XAxis, string> = { step: 'step', time: 'wall time', relative: 'relative time (s)' }

/** Server x (steps, ms) to the chart's x (steps, seconds: uPlot's time scale counts seconds), and back. */
const toChart = (axis: XAxis, x: number) => (axis === 'step' ? x : x / 1000)
const toServer = (axis: XAxis, x: number) => (axis === 'step' ? x : x * 1000)
/** Tick labels; a log scale leaves some ticks unlabelled (null). */
const ticksText = (_u: uPlot, ticks: (number | null)[]) => ticks.map((t) => (t === null || t === undefined ? '' : number(t)))

/** An exponential moving average of the finite values, debiased as TensorBoard does, so the first points are not
 * pulled towards zero; gaps stay gaps. A weight of 0 is the line itself. */
export function ema(values: (number | null)[], weight: number): (number | null)[] {
  if (weight <= 0) return values
  let last = 0
  let n = 0
  return values.map((v) => {
    if (v === null || !Number.isFinite(v)) return null
    last = last * weight + (1 - weight) * v
    n++
    return last / (1 - weight ** n)
  })
}

function optionsFrom(params: URLSearchParams): ChartOptions {
  const x = params.get('x')
  const smoothing = Number(params.get('smooth') ?? 0)
  return {
    x: x === 'time' || x === 'relative' ? x : 'step',
    logX: params.get('logx') === '1', logY: params.get('logy') === '1',
    smoothing: Number.isFinite(smoothing) ? Math.min(0.99, Math.max(0, smoothing)) : 0,
  }
}

/** The charts of the runs picked for charts: one chart per float series any of them logged, a line per run. */
export function ChartsPage() {
  const [params, setParams] = useSearchParams()
  const selected = useSelectedRuns()
  const fromAddress = params.getAll('run').filter(Boolean)
  const runIds = (fromAddress.length ? fromAddress : selected).slice(0, MAX_RUNS)
  const group = params.get('group')
  const options = { ...optionsFrom(params), ...(group ? { x: 'step' as const } : {}) }
  const [filter, setFilter] = useState(params.get('metrics') ?? '')
  const [shown, setShown] = useState(CHARTS_PAGE)
  const { data, error, loading, reload } = useQuery(`charts:${JSON.stringify(runIds)}`, (signal) => Promise.all(
    runIds.map((runId) => unwrap(api.GET('/api/track/runs/{run_id}', { params: { path: { run_id: runId } }, signal }))),
  ))
  const paths = useMemo(() => [...new Set((data ?? []).flatMap((run) => Object.entries(run.series)
    .filter(([, s]) => s.type === 'floatSeries').map(([p]) => p)))].sort(), [data])
  const matching = useMemo(() => paths.filter(pathMatcher(filter)), [paths, filter])
  const set = (key: string, value: string | null) => setParams((p) => {
    const next = new URLSearchParams(p)
    if (value === null) next.delete(key)
    else next.set(key, value)
    return next
  }, { replace: true })

  if (!runIds.length) {
    return <NoRuns title="Select runs to chart" action="Charts" />
  }
  return (
    <div className="page track-charts-page">
      <Link className="back" to="/track">← Runs</Link>
      <div className="page-head">
        <h1>Charts <span className="muted small">{group ? `${group}: mean ± std of ${runIds.length} runs`
          : runIds.length === 1 ? '1 run' : `${runIds.length} runs`}</span></h1>
      </div>
      <div className="chart-runs small" aria-label="Charted runs">
        {runIds.map((runId) => (
          <Link key={runId} to={runPath(runId)} className="chart-run">
            <span className="run-swatch" style={{ background: runColor(runId) }} aria-hidden />{runId}
          </Link>
        ))}
      </div>
      <div className="chart-options" role="toolbar" aria-label="Chart options">
        {!group && <label className="small">x axis{' '}
          <select aria-label="X axis" value={options.x} onChange={(e) => set('x', e.target.value === 'step' ? null : e.target.value)}>
            <option value="step">step</option>
            <option value="time">wall time</option>
            <option value="relative">relative time</option>
          </select>
        </label>}
        <label className="small"><input type="checkbox" checked={options.logX}
          onChange={(e) => set('logx', e.target.checked ? '1' : null)} /> log x</label>
        <label className="small"><input type="checkbox" checked={options.logY}
          onChange={(e) => set('logy', e.target.checked ? '1' : null)} /> log y</label>
        <label className="small">smoothing{' '}
          <select aria-label="Smoothing" value={options.smoothing > 0 ? 'ema' : 'none'}
            onChange={(e) => set('smooth', e.target.value === 'ema' ? '0.9' : null)}>
            <option value="none">none</option>
            <option value="ema">EMA</option>
          </select>
        </label>
        {options.smoothing > 0 && (
          <label className="small">weight{' '}
            <input type="range" aria-label="Smoothing weight" min={0.01} max={0.99} step={0.01} value={options.smoothing}
              onChange={(e) => set('smooth', e.target.value)} />
            <span className="smoothing-weight">{options.smoothing.toFixed(2)}</span>
          </label>
        )}
        <input className="grid-search" value={filter} onChange={(e) => {
          setFilter(e.target.value)
          setShown(CHARTS_PAGE)
        }} placeholder="Find metrics (regex)" aria-label="Find metrics" />
        <span className="muted small" data-testid="charts-count">
          {data && (matching.length === paths.length ? `${paths.length} metrics` : `${matching.length} of ${paths.length} metrics`)}
        </span>
      </div>
      {error ? <ErrorBox error={error} what="the runs" retry={reload} /> : !data ? (loading && <Spinner />) : (
        <>
          {!paths.length && <p className="muted">These runs have no float series.</p>}
          <div className="chart-grid track-charts">
            {matching.slice(0, shown).map((path) => (
              <RunsChart key={path} path={path} runIds={runIds} options={options} group={group} />
            ))}
          </div>
          {matching.length > shown && (
            <button className="load-more" onClick={() => setShown(shown + CHARTS_PAGE)}>
              Show {Math.min(CHARTS_PAGE, matching.length - shown)} more of {matching.length - shown}
            </button>
          )}
        </>
      )}
    </div>
  )
}

type GroupOut = components['schemas']['FormulaGroupOut']

/** A group's aggregate as a line: its mean through each bucket's last point (or the exact steps), the band its
 * ± std edges. */
function groupLine(g: GroupOut): RunLine {
  const line: RunLine = { runId: g.name, xs: [], ys: [], lows: [], highs: [], exact: g.exact }
  const finite = (v: unknown) => {
    const n = toNumber(v)
    return n !== null && Number.isFinite(n) ? n : null
  }
  if (g.exact) {
    for (const [x, y, lower, upper] of g.points) {
      const px = toNumber(x)
      if (px === null) continue
      line.xs.push(px)
      line.ys.push(finite(y))
      line.lows.push(finite(lower))
      line.highs.push(finite(upper))
    }
    return line
  }
  g.buckets.index.forEach((_, i) => {
    const x = g.buckets.last_x?.[i]
    if (x === null || x === undefined) return
    line.xs.push(x)
    line.ys.push(g.buckets.last_y?.[i] ?? null)
    line.lows.push(g.band.lower[i] ?? null)
    line.highs.push(g.band.upper[i] ?? null)
  })
  return line
}

/** The index of the point nearest x in sorted xs, or -1. */
function nearest(xs: number[], x: number): number {
  if (!xs.length) return -1
  let lo = 0
  let hi = xs.length - 1
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if (xs[mid] < x) lo = mid + 1
    else hi = mid
  }
  return lo > 0 && Math.abs(xs[lo - 1] - x) <= Math.abs(xs[lo] - x) ? lo - 1 : lo
}

/** One metric of many runs: one buckets request for all of them, fetched once the chart scrolls into view and again
 * for a dragged zoom; a line per run in its colour with its min/max band faint behind. */
export function RunsChart({ path, runIds, options, group = null, height = 220 }: {
  path: string
  runIds: string[]
  options: ChartOptions
  /** a group's name: its runs are drawn as one line, their mean, with a ± std band (a formula over the group) */
  group?: string | null
  height?: number
}) {
  const frame = useRef<HTMLElement>(null)
  const box = useRef<HTMLDivElement>(null)
  const inView = useInView(frame)
  const [lines, setLines] = useState<RunLine[] | null>(null)
  const [error, setError] = useState<string | null>(null)
  const [zoom, setZoom] = useState<Zoom | null>(null)
  const [cursorX, setCursorX] = useState<number | null>(null)
  const { x: axis, logX, logY, smoothing } = options
  const runsKey = JSON.stringify(runIds)

  // another x (or its scale) is another request: what was drawn on the old one is not drawn on the new
  useEffect(() => {
    setZoom(null)
    setLines(null)
  }, [axis, logX, runsKey])

  useEffect(() => {
    if (!inView) return
    const controller = new AbortController()
    const buckets = Math.min(1000, Math.max(50, Math.round((frame.current?.clientWidth ?? 800) / 2)))
    const failed = (err: unknown) => {
      if (!controller.signal.aborted) setError(err instanceof Error ? err.message : String(err))
    }
    if (group) {
      unwrap(api.POST('/api/track/formula', {
        body: {
          formula: `mean(\${${path.replace(/\\/g, '\\\\').replace(/}/g, '\\}')}})`, groups: [{ name: group, runs: runIds }],
          buckets, fields: ['last_x', 'last_y', 'min', 'max'], log_x: logX, lineage: true, shared_range: false, include_preview: true, runs: null,
          ...(zoom ? { from_x: zoom.from, to_x: zoom.to } : {}),
        }, signal: controller.signal,
      })).then((answer) => {
        setError(null)
        setLines(answer.groups.map((g) => groupLine(g)))
      }, failed)
      return () => controller.abort()
    }
    unwrap(api.POST('/api/track/buckets', {
      body: {
        series: runIds.map((run_id) => ({ run_id, path })), buckets, fields: ['last_x', 'last_y', 'min', 'max'],
        x: axis, log_x: logX, lineage: true, include_preview: true, shared_range: false, x_path: '',
        ...(zoom ? { from_x: zoom.from, to_x: zoom.to } : {}),
      }, signal: controller.signal,
    })).then((answer) => {
      setError(null)
      setLines(answer.series.map((s) => {
        const [xs, ys, lows, highs] = columnsOf(s)
        return { runId: s.run_id, xs: xs.map((x) => toChart(axis, x)), ys, lows, highs, exact: s.exact }
      }))
    }, (err: unknown) => {
      if (!controller.signal.aborted) setError(err instanceof Error ? err.message : String(err))
    })
    return () => controller.abort()
  }, [inView, runsKey, path, axis, logX, zoom, group]) // eslint-disable-line react-hooks/exhaustive-deps

  // what is drawn: per run the (smoothed) line, and when smoothed the raw line faint behind
  const drawn = useMemo(() => (lines ?? []).map((line) => {
    const positive = (v: number | null) => (logY && v !== null && v <= 0 ? null : v)
    const ys = line.ys.map(positive)
    return { ...line, raw: ys, ys: ema(ys, smoothing), lows: line.lows.map(positive), highs: line.highs.map(positive) }
  }), [lines, smoothing, logY])

  useEffect(() => {
    const el = box.current
    if (!el || !lines) return
    const value = (_u: uPlot, v: number | null) => (v === null || v === undefined ? '–' : number(v))
    const series: uPlot.Series[] = [{ label: X_LABELS[axis] }]
    const bands: uPlot.Band[] = []
    const tables: uPlot.AlignedData[] = []
    for (const line of drawn) {
      const color = runColor(line.runId)
      const first = series.length
      const columns: (number | null)[][] = [line.ys, line.lows, line.highs]
      series.push(
        { label: line.runId, stroke: color, width: 1.6, spanGaps: true, value, points: { show: line.xs.length < 60, size: 4 } },
        { label: 'min', stroke: 'transparent', width: 0, spanGaps: true, value, points: { show: false } },
        { label: 'max', stroke: 'transparent', width: 0, spanGaps: true, value, points: { show: false } },
      )
      bands.push({ series: [first + 2, first + 1], fill: `${color}1f` })
      if (smoothing > 0) {
        series.push({ label: 'raw', stroke: `${color}55`, width: 1, spanGaps: true, value, points: { show: false } })
        columns.push(line.raw)
      }
      tables.push([line.xs, ...columns] as uPlot.AlignedData)
    }
    const data = tables.length ? uPlot.join(tables) : ([[]] as unknown as uPlot.AlignedData)
    const opts: uPlot.Options = {
      width: Math.max(el.clientWidth, 200), height,
      legend: { show: false },
      cursor: { drag: { x: true, y: false, setScale: false } },
      scales: { x: { time: axis === 'time', distr: logX ? 3 : 1 }, y: { distr: logY ? 3 : 1 } },
      axes: [
        { stroke: '#6b7280', grid: { stroke: '#eef0f3' }, label: X_LABELS[axis], labelSize: 14, size: 36,
          ...(axis === 'time' ? {} : { values: ticksText }) },
        { stroke: '#6b7280', grid: { stroke: '#eef0f3' }, size: 60, values: ticksText },
      ],
      series, bands,
      hooks: {
        setCursor: [(u) => setCursorX(u.cursor.left === undefined || u.cursor.left < 0 ? null : u.posToVal(u.cursor.left, 'x'))],
        setSelect: [(u) => {
          if (u.select.width < 4) return
          const from = u.posToVal(u.select.left, 'x')
          const to = u.posToVal(u.select.left + u.select.width, 'x')
          u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false)
          setZoom({ from: toServer(axis, from), to: toServer(axis, to) })
        }],
      },
    }
    const plot = new uPlot(opts, data, el)
    performance.mark('neon:track-chart')
    const reset = () => setZoom(null)
    plot.over.addEventListener('dblclick', reset)
    const observer = new ResizeObserver(() => plot.setSize({ width: Math.max(el.clientWidth, 200), height }))
    observer.observe(el)
    return () => {
      observer.disconnect()
      plot.over.removeEventListener('dblclick', reset)
      plot.destroy()
    }
  }, [drawn, lines, axis, logX, logY, smoothing, height])

  const exactPoints = lines && lines.every((l) => l.exact) ? lines.reduce((n, l) => n + l.xs.length, 0) : null
  return (
    <section className="chart metric-chart runs-chart" ref={frame} data-path={path} data-drawn={lines ? 'yes' : 'no'}
      data-zoomed={zoom ? 'yes' : 'no'}>
      <div className="runs-chart-head">
        <h3 title={path}>{path}</h3>
        {zoom && <button className="link small" onClick={() => setZoom(null)}>Reset zoom</button>}
      </div>
      <div className="chart-summary small chart-resolution">
        {lines && (exactPoints !== null ? `${exactPoints.toLocaleString('en-US')} points, exact`
          : `buckets: line through each bucket's last point, band min–max`)}
        {zoom && ` · ${X_LABELS[axis]} ${number(toChart(axis, zoom.from))}–${number(toChart(axis, zoom.to))}`}
      </div>
      {error ? <div className="nql-error small">{error}</div>
        : <>
          {!lines && <div className="muted small chart-wait" style={{ height: height + 30 }}>{inView ? 'Loading…' : ''}</div>}
          <div ref={box} className="chart-canvas" />
          {lines && <ChartLegend lines={drawn} cursorX={cursorX} axis={axis} />}
        </>}
    </section>
  )
}

function ChartLegend({ lines, cursorX, axis }: {
  lines: { runId: string; xs: number[]; ys: (number | null)[] }[]
  cursorX: number | null
  axis: XAxis
}) {
  return (
    <ul className="runs-legend small" aria-label="Legend">
      {lines.map((line) => {
        let i = cursorX === null ? line.ys.length - 1 : nearest(line.xs, cursorX)
        if (cursorX === null) while (i >= 0 && line.ys[i] === null) i--
        const y = i >= 0 ? line.ys[i] : null
        return (
          <li key={line.runId} data-run-id={line.runId}>
            <span className="run-swatch" style={{ background: runColor(line.runId) }} aria-hidden />
            <span className="legend-name">{line.runId}</span>
            <span className="legend-value">{y === null || y === undefined ? '–' : number(y)}</span>
            {i >= 0 && cursorX !== null && <span className="muted"> at {axis === 'time'
              ? new Date(line.xs[i] * 1000).toISOString().slice(11, 19) : number(line.xs[i])}</span>}
          </li>
        )
      })}
    </ul>
  )
}
