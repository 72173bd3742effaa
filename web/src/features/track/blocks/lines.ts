// The lines of a line block: metrics (paths or /regex/) and formulas, for runs or groups, fetched in as few requests
// as the API allows — one buckets request for every run × metric, one formula request per formula.
import { api, unwrap } from '../../../api/client'
import type { components } from '../../../api/schema'
import { columnsOf } from '../MetricChart'
import { runColor, toNumber } from '../runs'
import type { LineOptions, RunsInView } from './spec'

export type XKind = LineOptions['x']['kind']
/** A zoom of x, in the server's units (steps, epoch / relative milliseconds, or the x metric's values). */
export type Zoom = { from: number; to: number }
/** One line as drawn: x in the chart's units, the bucket line, its band, and whether the points are exact. */
export type Line = {
  key: string
  /** the run (or group name) the line belongs to: its colour */
  runId: string
  /** the metric or formula */
  source: string
  label: string
  color: string
  dash: number[] | undefined
  xs: number[]
  ys: (number | null)[]
  lows: (number | null)[]
  highs: (number | null)[]
  exact: boolean
}

const FIELDS: ('last_x' | 'last_y' | 'min' | 'max')[] = ['last_x', 'last_y', 'min', 'max']
/** A line style per metric or formula of a chart (its colour is the run's). */
const DASHES: (number[] | undefined)[] = [undefined, [7, 4], [2, 3], [10, 3, 2, 3], [4, 4]]
const AGGREGATE = /^\s*(mean|median|std|min|max)\s*\(/

/** Server x (steps, ms, metric values) to the chart's x (uPlot's time scale counts seconds), and back. */
export const toChart = (axis: XKind, x: number): number => (axis === 'time' || axis === 'relative' ? x / 1000 : x)
export const toServer = (axis: XKind, x: number): number => (axis === 'time' || axis === 'relative' ? x * 1000 : x)

/** A path as a formula's series reference: `${path}`, with `}` and `\` escaped. */
export function seriesRef(path: string): string {
  return `\${${path.replace(/\\/g, '\\\\').replace(/}/g, '\\}')}}`
}

/** A metric written between slashes is a regular expression over the project's float series. */
export const isPattern = (metric: string): boolean => metric.length > 2 && metric.startsWith('/') && metric.endsWith('/')

const resolved = new Map<string, Promise<string[]>>()

/** The float series paths a block's metrics stand for: paths as they are, each /regex/ as the project's float
 * series it finds (asked once per pattern and page load). */
export async function resolveMetrics(metrics: string[], signal: AbortSignal): Promise<string[]> {
  const lists = await Promise.all(metrics.map((metric) => {
    if (!isPattern(metric)) return Promise.resolve([metric])
    let found = resolved.get(metric)
    if (!found) {
      found = unwrap(api.GET('/api/track/attributes', {
        params: { query: { regex: metric.slice(1, -1), type: ['floatSeries'], limit: 100 } },
      })).then((answer) => answer.attributes.map((a) => a.path))
      found.catch(() => resolved.delete(metric))
      resolved.set(metric, found)
    }
    return found
  }))
  signal.throwIfAborted()
  return [...new Set(lists.flat())]
}

type GroupOut = components['schemas']['FormulaGroupOut']
type BucketsBody = components['schemas']['BucketsRequest']
type BucketsAnswer = components['schemas']['BucketsResponse']
type Waiting = { body: BucketsBody; signal: AbortSignal; resolve: (a: BucketsAnswer) => void; reject: (e: unknown) => void }

/** The API's limit of series in one buckets request. */
const MAX_SERIES = 1000
const waiting = new Map<string, Waiting[]>()

/** Buckets of the same kind (x, scale, bucket count, fields; no window) asked in the same frame — the charts of a
 * page coming into view together — go as one request, split back per asker: one round trip and one engine read
 * instead of one a chart. A zoom (a window) goes alone, at once. */
export function postBuckets(body: BucketsBody, signal: AbortSignal): Promise<BucketsAnswer> {
  if (body.from_x !== undefined && body.from_x !== null) {
    return unwrap(api.POST('/api/track/buckets', { body, signal }))
  }
  const key = JSON.stringify({ ...body, series: null })
  return new Promise((resolve, reject) => {
    let batch = waiting.get(key)
    if (!batch) {
      const mine: Waiting[] = []
      batch = mine
      waiting.set(key, mine)
      let sent = false
      const send = () => {
        if (sent) return
        sent = true
        waiting.delete(key)
        void sendBatch(mine)
      }
      requestAnimationFrame(send)
      setTimeout(send, 50) // a hidden page draws no frames
    }
    batch.push({ body, signal, resolve, reject })
  })
}

async function sendBatch(batch: Waiting[]): Promise<void> {
  const live = batch.filter((w) => {
    if (w.signal.aborted) w.reject(w.signal.reason)
    return !w.signal.aborted
  })
  // askers in requests of at most MAX_SERIES series (one asker's series are never split)
  const requests: Waiting[][] = []
  let size = MAX_SERIES
  for (const w of live) {
    if (size + w.body.series.length > MAX_SERIES) {
      requests.push([])
      size = 0
    }
    requests[requests.length - 1].push(w)
    size += w.body.series.length
  }
  await Promise.all(requests.map(async (askers) => {
    const controller = new AbortController()
    let open = askers.length
    for (const w of askers) {
      w.signal.addEventListener('abort', () => {
        w.reject(w.signal.reason)
        if (--open === 0) controller.abort()
      }, { once: true })
    }
    try {
      const answer = await unwrap(api.POST('/api/track/buckets', {
        body: { ...askers[0].body, series: askers.flatMap((w) => w.body.series) }, signal: controller.signal,
      }))
      let at = 0
      for (const w of askers) {
        const n = w.body.series.length
        w.resolve({ ...answer, series: answer.series.slice(at, at + n) })
        at += n
      }
    } catch (err) {
      if (askers.length === 1 || controller.signal.aborted) {
        for (const w of askers) w.reject(err)
        return
      }
      // one asker's bad series (a run since deleted, say) fails the batch: each asks alone, and only it fails
      for (const w of askers) {
        if (!w.signal.aborted) unwrap(api.POST('/api/track/buckets', { body: w.body, signal: w.signal })).then(w.resolve, w.reject)
      }
    }
  }))
}

/** A group's aggregate as columns: its mean through each bucket's last point (or the exact steps), the band its
 * ± std edges. */
function groupColumns(g: GroupOut): Pick<Line, 'xs' | 'ys' | 'lows' | 'highs' | 'exact'> {
  const line = { xs: [] as number[], ys: [] as (number | null)[], lows: [] as (number | null)[],
    highs: [] as (number | null)[], exact: g.exact }
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

export type LinesAnswer = { lines: Line[]; notes: string[] }

/** Every line of a line block for the runs in view. Groups are drawn as the mean of their runs with a ± std band
 * (a metric `m` as the formula `mean(${m})`, a formula `f` as `mean(f)` unless it has an aggregate); formulas are
 * evaluated over steps, so with another x they are left out (and a note says so). */
export async function fetchLines({ options, runs, zoom, buckets, signal }: {
  options: LineOptions
  runs: RunsInView
  zoom: Zoom | null
  buckets: number
  signal: AbortSignal
}): Promise<LinesAnswer> {
  const metrics = await resolveMetrics(options.metrics, signal)
  const formulas = options.formulas.filter((f) => f.trim())
  const sources = [...metrics, ...formulas]
  const label = (owner: string, source: string) => (sources.length > 1 ? `${owner} · ${source}` : owner)
  const dash = (source: string) => DASHES[sources.indexOf(source) % DASHES.length]
  const axis = options.x.kind
  const window = zoom ? { from_x: zoom.from, to_x: zoom.to } : {}
  const notes: string[] = []
  const line = (owner: string, source: string, columns: Pick<Line, 'xs' | 'ys' | 'lows' | 'highs' | 'exact'>): Line => ({
    key: `${owner}\u0000${source}`, runId: owner, source, label: label(owner, source), color: runColor(owner),
    dash: dash(source), ...columns, xs: columns.xs.map((x) => toChart(axis, x)),
  })
  const formula = (text: string, asGroups: boolean) => unwrap(api.POST('/api/track/formula', {
    body: {
      formula: text, buckets, fields: FIELDS, log_x: options.logX, lineage: true, shared_range: false,
      include_preview: true, ...window,
      ...(asGroups ? { groups: runs.groups, runs: null } : { runs: runs.runIds }),
    }, signal,
  }))

  if (runs.groups.length) {
    if (axis !== 'step') notes.push('groups are drawn over steps')
    const asked = [...metrics.map((m) => ({ source: m, text: `mean(${seriesRef(m)})` })),
      ...formulas.map((f) => ({ source: f, text: AGGREGATE.test(f) ? f : `mean(${f})` }))]
    const answers = await Promise.all(asked.map((a) => formula(a.text, true)))
    return {
      lines: answers.flatMap((answer, i) => answer.groups.map((g) => line(g.name, asked[i].source, groupColumns(g)))),
      notes,
    }
  }
  if (!runs.runIds.length) return { lines: [], notes }
  const stored = metrics.length ? postBuckets({
    series: runs.runIds.flatMap((run_id) => metrics.map((path) => ({ run_id, path }))).slice(0, MAX_SERIES),
    buckets, fields: FIELDS, x: axis, x_path: options.x.kind === 'metric' ? options.x.path : '', log_x: options.logX,
    lineage: true, include_preview: true, shared_range: false, ...window,
  }, signal) : Promise.resolve({ series: [] })
  const derived = axis === 'step' ? formulas.map((f) => formula(f, false)) : []
  if (axis !== 'step' && formulas.length) notes.push('formulas are drawn over steps only')
  const [series, ...formulaAnswers] = await Promise.all([stored, ...derived])
  const lines = series.series.map((s) => {
    const [xs, ys, lows, highs] = columnsOf(s)
    return line(s.run_id, s.path, { xs, ys, lows, highs, exact: s.exact })
  })
  formulaAnswers.forEach((answer, i) => {
    for (const r of answer.runs) {
      const [xs, ys, lows, highs] = columnsOf({ ...r, path: formulas[i] })
      lines.push(line(r.run_id, formulas[i], { xs, ys, lows, highs, exact: r.exact }))
    }
  })
  // a run × metric it never logged draws nothing: leave it out of the legend too
  return { lines: lines.filter((l) => l.xs.length || sources.length === 1), notes }
}
