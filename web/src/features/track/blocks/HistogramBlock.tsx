import { useEffect, useState } from 'react'
import { api, unwrap } from '../../../api/client'
import { useQuery } from '../../../lib/useQuery'
import { number, runColor, toNumber } from '../runs'
import { scaleOf, useWidth } from './axes'
import { RunPicker } from './RunPicker'
import type { HistogramOptions, RunsInView } from './spec'
import { StepSlider } from './StepSlider'
import { allRuns } from './values'

type Histogram = { type?: string; edges: number[]; values: number[] }

const MARGIN = { left: 56, right: 12, top: 8, bottom: 24 }

function histogramOf(value: unknown): Histogram | null {
  if (typeof value !== 'object' || value === null) return null
  const h = value as { type?: string; edges?: unknown[]; values?: unknown[] }
  if (!Array.isArray(h.edges) || !Array.isArray(h.values)) return null
  return { type: h.type, edges: h.edges.map((e) => toNumber(e) ?? NaN), values: h.values.map((v) => toNumber(v) ?? NaN) }
}

/** A run's histogram series at one of its steps: bars over the bin edges, a slider over the steps (the last first). */
export function HistogramBlock({ options, runs, height }: { options: HistogramOptions; runs: RunsInView; height: number }) {
  const ids = allRuns(runs)
  const [picked, setPicked] = useState<string | null>(null)
  const runId = picked && ids.includes(picked) ? picked : options.run && ids.includes(options.run) ? options.run : ids[0]
  const { data, error } = useQuery(`histogram:${runId}:${options.path}`, (signal) => (runId && options.path
    ? unwrap(api.GET('/api/track/runs/{run_id}/points', {
      params: { path: { run_id: runId }, query: { path: options.path, kind: 'histogram' } }, signal,
    })).then((answer) => answer.points) : Promise.resolve([])))
  const [index, setIndex] = useState<number | null>(null)
  const [frame, WIDTH] = useWidth()
  useEffect(() => setIndex(null), [runId, options.path])
  if (!options.path) return <p className="muted small">Choose a histogram series.</p>
  if (!runId) return <p className="muted small">No run in view.</p>
  if (error) return <div className="nql-error small">{error.message}</div>
  const points = data ?? []
  const at = index === null ? points.length - 1 : Math.min(index, points.length - 1)
  const histogram = at >= 0 ? histogramOf(points[at].value) : null
  const h = Math.max(100, height - 56)
  const color = runColor(runId)
  let bars: { x0: number; x1: number; y: number; value: number }[] = []
  let ticks: { x: number; text: string }[] = []
  let yTicks: { y: number; text: string }[] = []
  let base = 0
  if (histogram) {
    const xs = scaleOf(histogram.edges.filter(Number.isFinite), MARGIN.left, WIDTH - MARGIN.right, false, 6)
    const top = Math.max(0, ...histogram.values.filter(Number.isFinite))
    const ys = scaleOf([0, top], h - MARGIN.bottom, MARGIN.top, false, 4)
    bars = histogram.values.map((value, i) => ({ x0: xs.at(histogram.edges[i]), x1: xs.at(histogram.edges[i + 1]), y: ys.at(Number.isFinite(value) ? value : 0), value }))
    ticks = xs.ticks.map((t) => ({ x: xs.at(t.value), text: t.text }))
    yTicks = ys.ticks.filter((t) => t.value >= 0).map((t) => ({ y: ys.at(t.value), text: t.text }))
    base = ys.at(0)
  }
  return (
    <div ref={frame} className="block-histogram" data-drawn={data ? 'yes' : 'no'} data-run-id={runId}
      data-step={at >= 0 ? points[at].step : ''}>
      <div className="block-controls">
        <RunPicker runIds={ids} value={runId} onChange={setPicked} />
        {points.length > 0 && <StepSlider steps={points.map((p) => p.step)} index={at} onChange={setIndex} label={`Step of ${options.path}`} />}
      </div>
      {data && !points.length && <p className="muted small">{runId} has no histograms at {options.path}.</p>}
      {histogram && (
        <svg viewBox={`0 0 ${WIDTH} ${h}`} width={WIDTH} height={h} role="img"
          aria-label={`${options.path} at step ${number(points[at].step)}`}>
          {yTicks.map((t) => (
            <g key={t.text}>
              <line x1={MARGIN.left} x2={WIDTH - MARGIN.right} y1={t.y} y2={t.y} className="grid-line" />
              <text x={MARGIN.left - 6} y={t.y + 4} textAnchor="end" className="tick">{t.text}</text>
            </g>
          ))}
          {bars.map((b, i) => (
            <rect key={i} className="histogram-bar" x={Math.min(b.x0, b.x1)} width={Math.max(1, Math.abs(b.x1 - b.x0) - 1)}
              y={b.y} height={Math.max(0, base - b.y)} fill={color} fillOpacity={0.75}>
              <title>{`${number(histogram.edges[i])}–${number(histogram.edges[i + 1])}: ${Number.isFinite(b.value) ? number(b.value) : b.value}`}</title>
            </rect>
          ))}
          {ticks.map((t) => <text key={t.text} x={t.x} y={h - 8} textAnchor="middle" className="tick">{t.text}</text>)}
        </svg>
      )}
    </div>
  )
}
