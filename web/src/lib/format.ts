// Numbers, times and durations as people read them.

/** Milliseconds since the epoch of an API time (`…T…(9 digits)Z`, or an ISO time with an offset, as the
 * metadata endpoints give); sub-millisecond digits are dropped. */
export function parseTime(value: string): number {
  return Date.parse(value.replace(/(\.\d{3})\d*(Z|[+-]\d\d:\d\d)$/, '$1$2'))
}

/** Nanoseconds between two API times, keeping the sub-millisecond digits. */
export function nanosBetween(from: string, to: string): number {
  return (parseTime(to) - parseTime(from)) * 1e6 + (subMilliNanos(to) - subMilliNanos(from))
}

function subMilliNanos(value: string): number {
  const match = /\.\d{3}(\d{0,6})Z$/.exec(value)
  return match ? Number(match[1].padEnd(6, '0')) : 0
}

export function duration(ns: number | null | undefined): string {
  if (ns === null || ns === undefined || Number.isNaN(ns)) return '–'
  const ms = ns / 1e6
  if (ms < 1) return `${Math.round(ns / 1e3)} µs`
  if (ms < 1000) return `${ms < 10 ? ms.toFixed(1) : Math.round(ms)} ms`
  const s = ms / 1000
  if (s < 60) return `${s.toFixed(s < 10 ? 2 : 1)} s`
  const m = Math.floor(s / 60)
  return `${m}m ${Math.round(s - m * 60)}s`
}

export function durationMs(ms: number | null | undefined): string {
  return ms === null || ms === undefined ? '–' : duration(ms * 1e6)
}

export function count(n: number | null | undefined): string {
  if (n === null || n === undefined) return '–'
  if (Math.abs(n) < 10_000) return n.toLocaleString('en-US')
  if (Math.abs(n) < 1e6) return `${(n / 1e3).toFixed(1)}k`
  if (Math.abs(n) < 1e9) return `${(n / 1e6).toFixed(2)}M`
  return `${(n / 1e9).toFixed(2)}B`
}

/** USD: three significant digits below $1 (a single LLM call often costs a fraction of a cent), cents up to
 * $100, whole dollars above; amounts under a thousandth of a cent read `<$0.00001`, never `$0.00000`. */
export function cost(usd: number | null | undefined): string {
  if (usd === null || usd === undefined || Number.isNaN(usd)) return '–'
  if (usd === 0) return '$0'
  if (usd < COST_FLOOR) return `<$${COST_FLOOR.toFixed(5)}`
  if (usd < 1) return `$${Number(usd.toPrecision(3))}`
  if (usd < 100) return `$${usd.toFixed(2)}`
  return `$${Math.round(usd).toLocaleString('en-US')}`
}

const COST_FLOOR = 0.00001

/** A trace's cost, marked partial (`$0.0123+`) when some of its LLM calls had no known price: the sum leaves
 * them out. `title` says so, for a tooltip. */
export function traceCost(usd: number | null | undefined, unpricedCalls: number | undefined): {
  text: string
  title?: string
} {
  if (!unpricedCalls) return { text: cost(usd) }
  const title = `some LLM calls had no known price: ${unpricedCalls} ${unpricedCalls === 1 ? 'call is' : 'calls are'} not in this cost`
  return { text: usd === null || usd === undefined ? 'no price' : `${cost(usd)}+`, title }
}

export function percent(x: number | null | undefined): string {
  return x === null || x === undefined ? '–' : `${(x * 100).toFixed(x < 0.1 ? 1 : 0)}%`
}

export function score(x: number | boolean | string | null | undefined): string {
  if (x === null || x === undefined) return '–'
  if (typeof x === 'boolean') return x ? 'true' : 'false'
  if (typeof x === 'string') return x
  return x.toFixed(2).replace(/\.?0+$/, '') || '0'
}

const timeFmt = new Intl.DateTimeFormat(undefined, {
  month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit',
})
const fullFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' })

export function clock(value: string | number): string {
  return timeFmt.format(typeof value === 'number' ? value : parseTime(value))
}

export function fullTime(value: string | number): string {
  return fullFmt.format(typeof value === 'number' ? value : parseTime(value))
}

/** "3 min ago", for recent times; a clock time for older ones. */
export function ago(value: string, now = Date.now()): string {
  const seconds = Math.round((now - parseTime(value)) / 1000)
  if (seconds < 5) return 'just now'
  if (seconds < 60) return `${seconds}s ago`
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ago`
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)}h ago`
  return clock(value)
}
