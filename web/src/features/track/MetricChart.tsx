import { useEffect, useRef, useState } from 'react'
import uPlot from 'uplot'
import 'uplot/dist/uPlot.min.css'
import { api, unwrap } from '../../api/client'
import type { components } from '../../api/schema'
import { number, toNumber } from './runs'

type SeriesBuckets = components['schemas']['SeriesBucketsOut']
/** Columns of [x, line, band low, band high], as uPlot takes them. */
type Drawn = [number[], (number | null)[], (number | null)[], (number | null)[]]

/** Buckets (or the exact points) as columns: the line goes through each bucket's last point, the band spans its
 * min and max; a bucket without a finite value is left out. */
export function columnsOf(series: SeriesBuckets): Drawn {
  const xs: number[] = []
  const ys: (number | null)[] = []
  const lows: (number | null)[] = []
  const highs: (number | null)[] = []
  if (series.exact) {
    for (const [x, y] of series.points) {
      const value = toNumber(y)
      const px = toNumber(x)
      if (px === null) continue
      xs.push(px)
      ys.push(value !== null && Number.isFinite(value) ? value : null)
      lows.push(null)
      highs.push(null)
    }
    return [xs, ys, lows, highs]
  }
  const b = series.buckets
  b.index.forEach((_, i) => {
    const x = b.last_x?.[i]
    if (x === null || x === undefined) return
    xs.push(x)
    ys.push(b.last_y?.[i] ?? null)
    lows.push(b.min?.[i] ?? null)
    highs.push(b.max?.[i] ?? null)
  })
  return [xs, ys, lows, highs]
}

export function useInView(ref: React.RefObject<HTMLElement | null>): boolean {
  const [seen, setSeen] = useState(false)
  useEffect(() => {
    const el = ref.current
    if (!el || seen) return
    const observer = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) setSeen(true)
    }, { rootMargin: '200px' })
    observer.observe(el)
    return () => observer.disconnect()
  }, [ref, seen])
  return seen
}

/** One float series of one run: fetched and drawn only once the chart scrolls into view. */
export function MetricChart({ runId, path, color, summary, height = 190 }: {
  runId: string
  path: string
  color: string
  summary?: string
  height?: number
}) {
  const frame = useRef<HTMLElement>(null)
  const box = useRef<HTMLDivElement>(null)
  const inView = useInView(frame)
  const [data, setData] = useState<Drawn | null>(null)
  const [error, setError] = useState<string | null>(null)

  useEffect(() => {
    if (!inView) return
    const controller = new AbortController()
    // about one bucket per two pixels: finer than that draws nothing more, coarser hides spikes in the band
    const buckets = Math.min(1000, Math.max(50, Math.round((frame.current?.clientWidth ?? 800) / 2)))
    unwrap(api.POST('/api/track/buckets', {
      body: {
        series: [{ run_id: runId, path }], buckets, fields: ['last_x', 'last_y', 'min', 'max'], x: 'step',
        lineage: true, include_preview: true, log_x: false, shared_range: false, x_path: '',
      }, signal: controller.signal,
    })).then((answer) => setData(columnsOf(answer.series[0])), (err: unknown) => {
      if (!controller.signal.aborted) setError(err instanceof Error ? err.message : String(err))
    })
    return () => controller.abort()
  }, [inView, runId, path])

  useEffect(() => {
    const el = box.current
    if (!el || !data) return
    const value = (_u: uPlot, v: number | null) => (v === null || v === undefined ? '–' : number(v))
    const opts: uPlot.Options = {
      width: Math.max(el.clientWidth, 200), height,
      legend: { live: true },
      cursor: { drag: { x: true, y: false } },
      scales: { x: { time: false } },
      axes: [
        { stroke: '#6b7280', grid: { stroke: '#eef0f3' }, label: 'step', labelSize: 14, size: 36 },
        { stroke: '#6b7280', grid: { stroke: '#eef0f3' }, size: 60, values: (_u, ticks) => ticks.map((t) => number(t)) },
      ],
      series: [
        { label: 'step', value },
        { label: path, stroke: color, width: 1.6, spanGaps: false, value,
          points: { show: data[0].length < 60, size: 4 } },
        { label: 'min', stroke: 'transparent', width: 0, value, points: { show: false } },
        { label: 'max', stroke: 'transparent', width: 0, value, points: { show: false } },
      ],
      bands: [{ series: [3, 2], fill: `${color}40` }],
    }
    const plot = new uPlot(opts, data as uPlot.AlignedData, el)
    performance.mark('neon:track-chart')
    const observer = new ResizeObserver(() => plot.setSize({ width: Math.max(el.clientWidth, 200), height }))
    observer.observe(el)
    return () => {
      observer.disconnect()
      plot.destroy()
    }
  }, [data, color, path, height])

  return (
    <section className="chart metric-chart" ref={frame} data-path={path} data-drawn={data ? 'yes' : 'no'}>
      <h3 title={path}>{path}</h3>
      {summary && <div className="chart-summary small">{summary}</div>}
      {error ? <div className="nql-error small">{error}</div>
        : <>
          {!data && <div className="muted small chart-wait" style={{ height: height + 30 }}>{inView ? 'Loading…' : ''}</div>}
          <div ref={box} className="chart-canvas" />
        </>}
    </section>
  )
}
