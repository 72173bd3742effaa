import { useMemo, useState } from 'react'
import { Link, useSearchParams } from 'react-router'
import { api, unwrap } from '../../api/client'
import { ErrorBox, Spinner } from '../../components/Feedback'
import { useQuery } from '../../lib/useQuery'
import { NoRuns } from './NoRuns'
import { number, pathMatcher, runColor, runPath, toNumber, useSelectedRuns, valueText, type RunDetail } from './runs'

const MAX_RUNS = 20

/** A run's values by path, as the comparison shows them: attributes as they are, series by their last value (float
 * series) or point count. */
function valuesOf(run: RunDetail): Map<string, string> {
  const out = new Map<string, string>()
  for (const [path, a] of Object.entries(run.attributes)) out.set(path, valueText(a.value))
  for (const [path, s] of Object.entries(run.series)) {
    const last = toNumber(s.last)
    out.set(path, s.type === 'floatSeries' ? (last !== null && Number.isFinite(last) ? number(last) : String(s.last))
      : `${s.count.toLocaleString('en-US')} points`)
  }
  return out
}

/** Paths that differ between runs by nature (ids, times): hidden by "differences only" unless asked for. */
const ALWAYS_DIFFERENT = /^sys\/(id|custom_run_id|name|creation_time|modification_time|ping_time|family)$/

export function CompareRunsPage() {
  const [params, setParams] = useSearchParams()
  const selected = useSelectedRuns()
  const fromAddress = params.getAll('run').filter(Boolean)
  const runIds = (fromAddress.length ? fromAddress : selected).slice(0, MAX_RUNS)
  const [differences, setDifferences] = useState(params.get('diff') === '1')
  const [filter, setFilter] = useState('')
  const { data, error, loading, reload } = useQuery(`compare:${JSON.stringify(runIds)}`, (signal) => Promise.all(
    runIds.map((runId) => unwrap(api.GET('/api/track/runs/{run_id}', { params: { path: { run_id: runId } }, signal }))),
  ))
  const table = useMemo(() => {
    if (!data) return []
    const values = data.map(valuesOf)
    const paths = [...new Set(values.flatMap((v) => [...v.keys()]))].sort((a, b) =>
      (a.startsWith('sys/') ? 1 : 0) - (b.startsWith('sys/') ? 1 : 0) || a.localeCompare(b))
    return paths.map((path) => {
      const cells = values.map((v) => v.get(path) ?? null)
      return { path, cells, same: cells.every((c) => c === cells[0]) }
    })
  }, [data])
  const matches = pathMatcher(filter)
  const shown = table.filter((r) => (!differences || (!r.same && !ALWAYS_DIFFERENT.test(r.path))) && matches(r.path))

  if (runIds.length < 2) {
    return <NoRuns title="Select two runs or more to compare" action="Compare" />
  }
  const template = `minmax(200px, 1.2fr) repeat(${runIds.length}, minmax(150px, 1fr))`
  return (
    <div className="page track-compare-page">
      <Link className="back" to="/track">← Runs</Link>
      <div className="page-head">
        <h1>Compare {runIds.length} runs</h1>
        <div className="head-actions">
          <input className="grid-search" value={filter} onChange={(e) => setFilter(e.target.value)}
            placeholder="Find attributes (regex)" aria-label="Find attributes" />
          <label className="small">
            <input type="checkbox" checked={differences} onChange={(e) => {
              setDifferences(e.target.checked)
              const next = new URLSearchParams(params)
              if (e.target.checked) next.set('diff', '1')
              else next.delete('diff')
              setParams(next, { replace: true })
            }} /> Differences only
          </label>
        </div>
      </div>
      {error && <ErrorBox error={error} what="the runs" retry={reload} />}
      {loading && !data && <Spinner />}
      {data && (
        <div className="table compare-table" role="table" aria-label="Compared runs">
          <div className="runs-scroll">
            <div className="tr thead runs-head" role="row" style={{ gridTemplateColumns: template }}>
              <div className="th" role="columnheader">Attribute <span className="muted small">{shown.length} of {table.length}</span></div>
              {data.map((run) => (
                <div key={run.run_id} className="th run-id" role="columnheader" data-run-id={run.run_id}>
                  <span className="run-swatch" style={{ background: runColor(run.run_id) }} aria-hidden />
                  <Link to={runPath(run.run_id)}>{run.run_id}</Link>
                </div>
              ))}
            </div>
            {shown.map((row) => (
              <div key={row.path} className={`tr run-row compare-row ${row.same ? '' : 'differs'}`} role="row"
                style={{ gridTemplateColumns: template, position: 'static' }} data-path={row.path}>
                <div className="td tree-name" role="cell" title={row.path}>{row.path}</div>
                {row.cells.map((cell, i) => (
                  <div key={i} className={`td ${cell === null ? 'muted' : ''}`} role="cell" title={cell ?? 'not set'}>
                    {cell ?? '–'}
                  </div>
                ))}
              </div>
            ))}
            {!shown.length && <p className="muted" style={{ padding: 12 }}>No attribute {differences ? 'differs' : 'matches'}.</p>}
          </div>
        </div>
      )}
    </div>
  )
}
