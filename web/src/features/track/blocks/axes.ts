// Scales and ticks for the blocks drawn as SVG (scatter, histogram).
import { useEffect, useState } from 'react'
import { number } from '../runs'

export type Scale = { at: (v: number) => number; ticks: { value: number; text: string }[]; log: boolean }

/** About `count` round ticks between lo and hi. */
function linearTicks(lo: number, hi: number, count: number): number[] {
  const span = hi - lo || Math.abs(hi) || 1
  const raw = span / count
  const power = 10 ** Math.floor(Math.log10(raw))
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) ?? raw
  const ticks: number[] = []
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.push(Number(t.toPrecision(12)))
  return ticks
}

/** A scale of the values onto pixels [from, to]; log: powers of ten, values ≤ 0 have no place (NaN). */
export function scaleOf(values: number[], from: number, to: number, log: boolean, count = 5): Scale {
  const usable = log ? values.filter((v) => v > 0) : values
  let lo = usable.length ? Math.min(...usable) : 0
  let hi = usable.length ? Math.max(...usable) : 1
  if (log) {
    lo = Math.log10(lo)
    hi = Math.log10(hi)
  }
  if (lo === hi) {
    lo -= log ? 0.5 : Math.abs(lo) * 0.1 || 1
    hi += log ? 0.5 : Math.abs(hi) * 0.1 || 1
  }
  const pad = (hi - lo) * 0.06
  lo -= pad
  hi += pad
  const at = (v: number) => {
    const t = log ? (v > 0 ? Math.log10(v) : NaN) : v
    return from + ((t - lo) / (hi - lo)) * (to - from)
  }
  const ticks = log
    ? linearTicks(Math.ceil(lo), Math.floor(hi), Math.min(count, Math.max(1, Math.floor(hi) - Math.ceil(lo)))).filter(Number.isInteger)
      .map((p) => ({ value: 10 ** p, text: number(10 ** p) }))
    : linearTicks(lo, hi, count).map((v) => ({ value: v, text: number(v) }))
  return { at, ticks, log }
}

/** The width of an element in CSS pixels, followed as it resizes, and the ref that names the element (an SVG drawn at
 * that width keeps its text unstretched). */
export function useWidth(fallback = 480): [(el: HTMLElement | null) => void, number] {
  const [el, setEl] = useState<HTMLElement | null>(null)
  const [width, setWidth] = useState(fallback)
  useEffect(() => {
    if (!el) return
    const update = () => setWidth(Math.max(200, Math.floor(el.clientWidth)))
    update()
    const observer = new ResizeObserver(update)
    observer.observe(el)
    return () => observer.disconnect()
  }, [el])
  return [setEl, width]
}
