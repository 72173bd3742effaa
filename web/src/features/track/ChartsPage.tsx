import { useMemo, useState } from 'react'
import { Link, useSearchParams } from 'react-router'
import { api, unwrap } from '../../api/client'
import { ErrorBox, Spinner } from '../../components/Feedback'
import { useQuery } from '../../lib/useQuery'
import { NoRuns } from './NoRuns'
import { LineChart } from './blocks/LineBlock'
import { BlockEditor } from './blocks/BlockEditor'
import { BlockView, blockTitle } from './blocks/BlockView'
import type { Block, LineOptions, RunsInView } from './blocks/spec'
import { pathMatcher, runColor, runPath, useSelectedRuns } from './runs'

const MAX_RUNS = 100
const CHARTS_PAGE = 12
const NAMES_PAGE = 1000

export type XAxis = 'step' | 'time' | 'relative'
export type ChartOptions = { x: XAxis; logX: boolean; logY: boolean; smoothing: number }

/** The charts added with the builder, kept in the address (`block=<JSON>`, one a chart) so a link shows them too. */
function blocksFrom(params: URLSearchParams): Block[] {
  return params.getAll('block').flatMap((text) => {
    try {
      const block = JSON.parse(text) as Block
      return block && typeof block === 'object' && typeof block.type === 'string' && block.options ? [block] : []
    } catch {
      return []
    }
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
  const blocks = useMemo(() => blocksFrom(params), [params])
  const inView = useMemo<RunsInView>(() => (group ? { runIds: [], groups: [{ name: group, runs: runIds }] }
    : { runIds, groups: [] }), [group, JSON.stringify(runIds)]) // eslint-disable-line react-hooks/exhaustive-deps
  const [filter, setFilter] = useState(params.get('metrics') ?? '')
  const [shown, setShown] = useState(CHARTS_PAGE)
  const [building, setBuilding] = useState(false)
  // the float series the runs have, by path: one request (a page of names) instead of each run's whole detail
  const { data, error, loading, reload } = useQuery(`charts:${JSON.stringify(runIds)}`, async (signal) => {
    const found: string[] = []
    let after: string | null = null
    do {
      const page: { attributes: { path: string }[]; next_cursor: string | null } = await unwrap(api.GET(
        '/api/track/attributes', {
          params: { query: { run: runIds, type: ['floatSeries'], limit: NAMES_PAGE, ...(after ? { after } : {}) } },
          signal,
        }))
      found.push(...page.attributes.map((a) => a.path))
      after = page.next_cursor
    } while (after)
    return found
  })
  const paths = useMemo(() => data ?? [], [data])
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
        <button type="button" className="primary" onClick={() => setBuilding(true)}>Add chart</button>
        <input className="grid-search" value={filter} onChange={(e) => {
          setFilter(e.target.value)
          setShown(CHARTS_PAGE)
        }} placeholder="Find metrics (regex)" aria-label="Find metrics" />
        <span className="muted small" data-testid="charts-count">
          {data && (matching.length === paths.length ? `${paths.length} metrics` : `${matching.length} of ${paths.length} metrics`)}
        </span>
      </div>
      {building && <BlockEditor runs={inView} onCancel={() => setBuilding(false)} onSave={(block) => {
        setBuilding(false)
        setParams((p) => {
          const next = new URLSearchParams(p)
          next.append('block', JSON.stringify(block))
          return next
        }, { replace: true })
      }} />}
      {blocks.length > 0 && (
        <div className="chart-grid track-charts added-blocks" aria-label="Added charts">
          {blocks.map((block, i) => (
            <div key={`${i}:${block.id}`} className="added-block">
              <button className="link small remove-block" aria-label={`Remove ${blockTitle(block) || block.type}`}
                onClick={() => setParams((p) => {
                  const next = new URLSearchParams(p)
                  next.delete('block')
                  params.getAll('block').filter((_, j) => j !== i).forEach((b) => next.append('block', b))
                  return next
                }, { replace: true })}>×</button>
              <BlockView block={block} runs={inView} height={300} />
            </div>
          ))}
        </div>
      )}
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

/** One metric of many runs (or a group's mean ± std), as the charts page shows it: a line block of that metric. */
export function RunsChart({ path, runIds, options, group = null, height = 220 }: {
  path: string
  runIds: string[]
  options: ChartOptions
  /** a group's name: its runs are drawn as one line, their mean, with a ± std band (a formula over the group) */
  group?: string | null
  height?: number
}) {
  const line = useMemo<LineOptions>(() => ({
    metrics: [path], formulas: [], x: { kind: options.x }, logX: options.logX, logY: options.logY,
    smoothing: options.smoothing > 0 ? { kind: 'ema', weight: options.smoothing } : { kind: 'none' },
  }), [path, options.x, options.logX, options.logY, options.smoothing])
  const runs = useMemo<RunsInView>(() => (group ? { runIds: [], groups: [{ name: group, runs: runIds }] }
    : { runIds, groups: [] }), [group, JSON.stringify(runIds)]) // eslint-disable-line react-hooks/exhaustive-deps
  return <LineChart options={line} runs={runs} title={path} height={height} />
}
