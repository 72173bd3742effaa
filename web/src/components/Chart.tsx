import { useEffect, useRef } from 'react'
import uPlot from 'uplot'
import 'uplot/dist/uPlot.min.css'

export type Series = { label: string; values: (number | null)[]; color: string; bars?: boolean }

export const PALETTE = ['#3b6fd8', '#e0803a', '#2e9e6b', '#c4485b', '#8a5cc9', '#2d9fb5', '#b59b2d', '#6b7a8f']

function countValues(values: (number | null)[] | undefined): number {
  return values ? values.filter((v) => v !== null).length : 0
}

/** A time chart (uPlot: canvas, fast with many points) that follows its container's width. */
export function TimeChart({ title, x, series, format, height = 200 }: {
  title: string
  x: number[]
  series: Series[]
  format?: (v: number) => string
  height?: number
}) {
  const box = useRef<HTMLDivElement>(null)
  useEffect(() => {
    const el = box.current
    if (!el) return
    const bars = uPlot.paths.bars?.({ size: [0.7, 40] })
    const opts: uPlot.Options = {
      width: Math.max(el.clientWidth, 200),
      height,
      legend: { live: true },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true } },
      axes: [
        { stroke: '#6b7280', grid: { stroke: '#eef0f3' } },
        {
          stroke: '#6b7280', grid: { stroke: '#eef0f3' }, size: 60,
          values: (_u, ticks) => ticks.map((t) => (format ? format(t) : String(t))),
        },
      ],
      series: [
        {},
        ...series.map((s) => ({
          label: s.label,
          stroke: s.color,
          fill: s.bars ? `${s.color}55` : undefined,
          width: s.bars ? 0 : 1.6,
          paths: s.bars ? bars : undefined,
          points: { show: (_u: uPlot, seriesIdx: number) => countValues(series[seriesIdx - 1]?.values) < 60 },
          spanGaps: false,
          value: (_u: uPlot, v: number | null) => (v === null ? '–' : format ? format(v) : String(v)),
        })),
      ],
    }
    const plot = new uPlot(opts, [x, ...series.map((s) => s.values)] as uPlot.AlignedData, el)
    const observer = new ResizeObserver(() => plot.setSize({ width: Math.max(el.clientWidth, 200), height }))
    observer.observe(el)
    return () => {
      observer.disconnect()
      plot.destroy()
    }
  }, [x, series, format, height])
  return (
    <section className="chart">
      <h3>{title}</h3>
      <div ref={box} className="chart-canvas" />
    </section>
  )
}
