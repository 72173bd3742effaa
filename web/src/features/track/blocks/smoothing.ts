// Smoothing of a drawn line, in the browser: over the points as drawn (bucket lines or exact points), gaps kept.
import type { Smoothing } from './spec'

type Values = (number | null)[]

const finite = (v: number | null): v is number => v !== null && Number.isFinite(v)

/** An exponential moving average of the finite values, debiased as TensorBoard does, so the first points are not
 * pulled towards zero; gaps stay gaps. A weight of 0 is the line itself. */
export function ema(values: Values, weight: number): Values {
  if (weight <= 0) return values
  let last = 0
  let n = 0
  return values.map((v) => {
    if (!finite(v)) return null
    last = last * weight + (1 - weight) * v
    n++
    return last / (1 - weight ** n)
  })
}

/** The mean of the last `window` finite values (of all so far at the start); gaps stay gaps. */
export function sma(values: Values, window: number): Values {
  const size = Math.max(1, Math.round(window))
  if (size <= 1) return values
  const kept: number[] = []
  let sum = 0
  return values.map((v) => {
    if (!finite(v)) return null
    kept.push(v)
    sum += v
    if (kept.length > size) sum -= kept.shift() as number
    return sum / kept.length
  })
}

/** A Gaussian kernel of `sigma` points over the finite values, cut at 3σ and renormalised at the ends and around
 * gaps; gaps stay gaps. */
export function gaussian(values: Values, sigma: number): Values {
  if (!(sigma > 0)) return values
  const reach = Math.ceil(3 * sigma)
  const weights = Array.from({ length: reach + 1 }, (_, d) => Math.exp(-(d * d) / (2 * sigma * sigma)))
  return values.map((v, i) => {
    if (!finite(v)) return null
    let sum = 0
    let total = 0
    for (let j = Math.max(0, i - reach); j <= Math.min(values.length - 1, i + reach); j++) {
      const u = values[j]
      if (!finite(u)) continue
      const w = weights[Math.abs(j - i)]
      sum += u * w
      total += w
    }
    return sum / total
  })
}

export function smooth(values: Values, smoothing: Smoothing): Values {
  switch (smoothing.kind) {
    case 'ema': return ema(values, smoothing.weight)
    case 'sma': return sma(values, smoothing.window)
    case 'gaussian': return gaussian(values, smoothing.sigma)
    default: return values
  }
}

export const isSmoothed = (s: Smoothing): boolean =>
  (s.kind === 'ema' && s.weight > 0) || (s.kind === 'sma' && s.window > 1) || (s.kind === 'gaussian' && s.sigma > 0)

/** The smoothing as a short label: "EMA 0.9", "SMA 10", "Gaussian σ 2". */
export function smoothingText(s: Smoothing): string {
  switch (s.kind) {
    case 'ema': return `EMA ${s.weight}`
    case 'sma': return `SMA ${s.window}`
    case 'gaussian': return `Gaussian σ ${s.sigma}`
    default: return 'none'
  }
}
