import { useEffect, useMemo, useRef, useState } from 'react'
import uPlot from 'uplot'
import 'uplot/dist/uPlot.min.css'
import { useInView } from '../MetricChart'
import { number } from '../runs'
import { fetchLines, toChart, toServer, type Line, type XKind, type Zoom } from './lines'
import { isSmoothed, smooth } from './smoothing'
import type { LineOptions, RunsInView } from './spec'

/** Tick labels; a log scale leaves some ticks unlabelled (null). */
const ticksText = (_u: uPlot, ticks: (number | null)[]) => ticks.map((t) => (t === null || t === undefined ? '' : number(t)))

function xLabel(x: LineOptions['x']): string {
  switch (x.kind) {
    case 'time': return 'wall time'
    case 'relative': return 'relative time (s)'
    case 'metric': return x.path || 'metric'
    default: return 'step'
  }
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

/** Lines over x for the runs (or groups) in view: every metric and formula of `options`, a line per run × metric in
 * the run's colour (a dash per metric) with its min/max band faint behind; fetched once the chart scrolls into view
 * and again for a dragged zoom; smoothed in the browser with the raw line faint behind. */
export function LineChart({ options, runs: given, title, height = 220 }: {
  options: LineOptions
  runs: RunsInView
  title: string
  height?: number
}) {
  const runs = useMemo<RunsInView>(() => (options.aggregateRuns && !given.groups.length && given.runIds.length
    ? { runIds: [], groups: [{ name: `mean of ${given.runIds.length} runs`, runs: given.runIds }] } : given),
  [options.aggregateRuns, given])
  const frame = useRef<HTMLElement>(null)
  const box = useRef<HTMLDivElement>(null)
  const inView = useInView(frame)
  const [lines, setLines] = useState<Line[] | null>(null)
  const [notes, setNotes] = useState<string[]>([])
  const [error, setError] = useState<string | null>(null)
  const [zoom, setZoom] = useState<Zoom | null>(null)
  const [cursorX, setCursorX] = useState<number | null>(null)
  const { logX, logY, smoothing } = options
  const grouped = runs.groups.length > 0
  const axis: XKind = grouped ? 'step' : options.x.kind
  const xSpec = grouped ? { kind: 'step' as const } : options.x
  // what asks the server again: the lines, their x and its scale, the runs (not log y or smoothing: the browser's)
  const askKey = JSON.stringify([options.metrics, options.formulas, xSpec, logX, runs])

  // another x (or its scale) is another request: what was drawn on the old one is not drawn on the new
  useEffect(() => {
    setZoom(null)
    setLines(null)
  }, [askKey])

  useEffect(() => {
    if (!inView) return
    const controller = new AbortController()
    // about one bucket per two pixels: finer than that draws nothing more, coarser hides spikes in the band
    const buckets = Math.min(1000, Math.max(50, Math.round((frame.current?.clientWidth ?? 800) / 2)))
    fetchLines({ options: { ...options, x: xSpec }, runs, zoom, buckets, signal: controller.signal }).then((answer) => {
      setError(null)
      setNotes(answer.notes)
      setLines(answer.lines)
    }, (err: unknown) => {
      if (!controller.signal.aborted) setError(err instanceof Error ? err.message : String(err))
    })
    return () => controller.abort()
  }, [inView, askKey, zoom]) // eslint-disable-line react-hooks/exhaustive-deps

  const smoothed = isSmoothed(smoothing)
  const smoothKey = JSON.stringify(smoothing)
  // what is drawn: per line the (smoothed) values, and when smoothed the raw line faint behind
  const drawn = useMemo(() => (lines ?? []).map((line) => {
    const positive = (v: number | null) => (logY && v !== null && v <= 0 ? null : v)
    const ys = line.ys.map(positive)
    return { ...line, raw: ys, ys: smooth(ys, smoothing), lows: line.lows.map(positive), highs: line.highs.map(positive) }
  }), [lines, smoothKey, logY]) // eslint-disable-line react-hooks/exhaustive-deps

  // the plot, kept while what it draws has the same shape (series, scales, size): new data — a zoom's window — is
  // given to it with setData instead of building a new plot
  const plotted = useRef<{ plot: uPlot; shape: string; release: () => void } | null>(null)
  const dropPlot = () => {
    plotted.current?.release()
    plotted.current = null
  }
  useEffect(() => dropPlot, [])

  useEffect(() => {
    const el = box.current
    if (!el || !lines) {
      dropPlot()
      return
    }
    const value = (_u: uPlot, v: number | null) => (v === null || v === undefined ? '–' : number(v))
    const series: uPlot.Series[] = [{ label: xLabel(xSpec) }]
    const bands: uPlot.Band[] = []
    const tables: uPlot.AlignedData[] = []
    for (const line of drawn) {
      if (!line.xs.length) continue
      const first = series.length
      const columns: (number | null)[][] = [line.ys, line.lows, line.highs]
      series.push(
        { label: line.label, stroke: line.color, width: 1.6, dash: line.dash, spanGaps: true, value,
          points: { show: line.xs.length < 60, size: 4 } },
        { label: 'min', stroke: 'transparent', width: 0, spanGaps: true, value, points: { show: false } },
        { label: 'max', stroke: 'transparent', width: 0, spanGaps: true, value, points: { show: false } },
      )
      bands.push({ series: [first + 2, first + 1], fill: `${line.color}1f` })
      if (smoothed) {
        series.push({ label: 'raw', stroke: `${line.color}55`, width: 1, dash: line.dash, spanGaps: true, value,
          points: { show: false } })
        columns.push(line.raw)
      }
      tables.push([line.xs, ...columns] as uPlot.AlignedData)
    }
    const data = tables.length ? uPlot.join(tables) : ([[]] as unknown as uPlot.AlignedData)
    const shape = JSON.stringify([series.map((s) => [s.label, s.stroke, s.width, s.dash, s.points?.show]),
      axis, logX, logY, height])
    const kept = plotted.current
    if (kept && kept.shape === shape && kept.plot.root.parentElement === el) {
      kept.plot.setData(data)
      performance.mark('neon:track-chart')
      return
    }
    dropPlot()
    const opts: uPlot.Options = {
      width: Math.max(el.clientWidth, 200), height,
      legend: { show: false },
      cursor: { drag: { x: true, y: false, setScale: false } },
      scales: { x: { time: axis === 'time', distr: logX ? 3 : 1 }, y: { distr: logY ? 3 : 1 } },
      axes: [
        { stroke: '#6b7280', grid: { stroke: '#eef0f3' }, label: xLabel(xSpec), labelSize: 14, size: 36,
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
    plotted.current = {
      plot, shape, release: () => {
        observer.disconnect()
        plot.over.removeEventListener('dblclick', reset)
        plot.destroy()
      },
    }
  }, [drawn, lines, axis, logX, logY, smoothed, height]) // eslint-disable-line react-hooks/exhaustive-deps

  const exactPoints = lines && lines.every((l) => l.exact) ? lines.reduce((n, l) => n + l.xs.length, 0) : null
  return (
    <section className="chart metric-chart runs-chart" ref={frame} data-path={title} data-drawn={lines ? 'yes' : 'no'}
      data-zoomed={zoom ? 'yes' : 'no'} data-x={xLabel(xSpec)}>
      <div className="runs-chart-head">
        <h3 title={title}>{title}</h3>
        {zoom && <button className="link small" onClick={() => setZoom(null)}>Reset zoom</button>}
      </div>
      <div className="chart-summary small chart-resolution">
        {lines && (exactPoints !== null ? `${exactPoints.toLocaleString('en-US')} points, exact`
          : `buckets: line through each bucket's last point, band min–max`)}
        {zoom && ` · ${xLabel(xSpec)} ${number(toChart(axis, zoom.from))}–${number(toChart(axis, zoom.to))}`}
        {notes.map((n) => <span key={n} className="chart-note"> · {n}</span>)}
      </div>
      {error ? <div className="nql-error small">{error}</div>
        : <>
          {!lines && <div className="muted small chart-wait" style={{ height: height + 30 }}>{inView ? 'Loading…' : ''}</div>}
          <div ref={box} className="chart-canvas" />
          {lines && !lines.length && <p className="muted small">Nothing to draw: no run has these metrics.</p>}
          {lines && <ChartLegend lines={drawn} cursorX={cursorX} axis={axis} />}
        </>}
    </section>
  )
}

function ChartLegend({ lines, cursorX, axis }: { lines: Line[]; cursorX: number | null; axis: XKind }) {
  return (
    <ul className="runs-legend small" aria-label="Legend">
      {lines.map((line) => {
        let i = cursorX === null ? line.ys.length - 1 : nearest(line.xs, cursorX)
        if (cursorX === null) while (i >= 0 && line.ys[i] === null) i--
        const y = i >= 0 ? line.ys[i] : null
        return (
          <li key={line.key} data-run-id={line.runId} data-series={line.source}>
            {line.dash
              ? <span className="line-swatch" aria-hidden
                style={{ borderTopColor: line.color, borderTopStyle: line.dash[0] <= 2 ? 'dotted' : 'dashed' }} />
              : <span className="run-swatch" style={{ background: line.color }} aria-hidden />}
            <span className="legend-name">{line.label}</span>
            <span className="legend-value">{y === null || y === undefined ? '–' : number(y)}</span>
            {i >= 0 && cursorX !== null && <span className="muted"> at {axis === 'time'
              ? new Date(line.xs[i] * 1000).toISOString().slice(11, 19) : number(line.xs[i])}</span>}
          </li>
        )
      })}
    </ul>
  )
}
