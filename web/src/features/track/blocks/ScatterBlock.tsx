import { useState } from 'react'
import { number, runColor } from '../runs'
import { scaleOf, useWidth } from './axes'
import type { RunsInView, ScatterOptions } from './spec'
import { numeric, refText, useRunValues } from './values'

const MARGIN = { left: 64, right: 14, top: 10, bottom: 38 }

/** One point per run: x and y each an attribute or a series aggregate, in the run's colour; hovering a point names
 * the run and its values. Runs without both values (or ≤ 0 on a log axis) are counted under the chart. */
export function ScatterBlock({ options, runs, height }: { options: ScatterOptions; runs: RunsInView; height: number }) {
  const { data, error } = useRunValues(runs, [options.x, options.y])
  const [hover, setHover] = useState<string | null>(null)
  const [frame, WIDTH] = useWidth()
  if (!options.x.path || !options.y.path) return <p className="muted small">Choose what x and y show.</p>
  if (error) return <div className="nql-error small">{error.message}</div>
  const points = (data ?? []).map((r) => ({ runId: r.runId, x: numeric(r.values[0]), y: numeric(r.values[1]) }))
    .filter((p): p is { runId: string; x: number; y: number } => p.x !== null && p.y !== null
      && (!options.logX || p.x > 0) && (!options.logY || p.y > 0))
  const left = (data?.length ?? 0) - points.length
  const h = Math.max(120, height - 24)
  const xs = scaleOf(points.map((p) => p.x), MARGIN.left, WIDTH - MARGIN.right, options.logX)
  const ys = scaleOf(points.map((p) => p.y), h - MARGIN.bottom, MARGIN.top, options.logY)
  const shown = points.find((p) => p.runId === hover)
  return (
    <div ref={frame} className="block-scatter" data-drawn={data ? 'yes' : 'no'}>
      <svg viewBox={`0 0 ${WIDTH} ${h}`} width={WIDTH} height={h} role="img" aria-label={`${refText(options.y)} against ${refText(options.x)}`}
       >
        {xs.ticks.map((t) => (
          <g key={`x${t.value}`}>
            <line x1={xs.at(t.value)} x2={xs.at(t.value)} y1={MARGIN.top} y2={h - MARGIN.bottom} className="grid-line" />
            <text x={xs.at(t.value)} y={h - MARGIN.bottom + 14} textAnchor="middle" className="tick">{t.text}</text>
          </g>
        ))}
        {ys.ticks.map((t) => (
          <g key={`y${t.value}`}>
            <line x1={MARGIN.left} x2={WIDTH - MARGIN.right} y1={ys.at(t.value)} y2={ys.at(t.value)} className="grid-line" />
            <text x={MARGIN.left - 6} y={ys.at(t.value) + 4} textAnchor="end" className="tick">{t.text}</text>
          </g>
        ))}
        <text x={(MARGIN.left + WIDTH - MARGIN.right) / 2} y={h - 6} textAnchor="middle" className="axis-label">{refText(options.x)}</text>
        {points.map((p) => (
          <circle key={p.runId} className="scatter-point" data-run-id={p.runId} cx={xs.at(p.x)} cy={ys.at(p.y)}
            r={hover === p.runId ? 7 : 5} fill={runColor(p.runId)} stroke="#fff" strokeWidth={1.2}
            onMouseEnter={() => setHover(p.runId)} onMouseLeave={() => setHover(null)}>
            <title>{`${p.runId}: ${refText(options.x)} ${number(p.x)}, ${refText(options.y)} ${number(p.y)}`}</title>
          </circle>
        ))}
      </svg>
      <div className="small scatter-hover" aria-live="polite">
        {shown ? <><span className="run-swatch" style={{ background: runColor(shown.runId) }} aria-hidden /> {shown.runId}:{' '}
          {refText(options.x)} {number(shown.x)}, {refText(options.y)} {number(shown.y)}</>
          : <span className="muted">{data && `${points.length} runs · y: ${refText(options.y)}`
            + (left ? ` · ${left} without both values` : '')}</span>}
      </div>
    </div>
  )
}
