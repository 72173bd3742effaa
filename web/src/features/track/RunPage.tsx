import { useMemo, useState } from 'react'
import { Link, useParams } from 'react-router'
import { api, unwrap } from '../../api/client'
import type { components } from '../../api/schema'
import { ErrorBox, Spinner } from '../../components/Feedback'
import { useQuery } from '../../lib/useQuery'
import { MetricChart } from './MetricChart'
import { RunMedia } from './RunMedia'
import { number, pathMatcher, runColor, runPath, toggleRun, toNumber, useSelectedRuns, valueText, type RunDetail } from './runs'

type Summary = components['schemas']['SeriesSummary']
type Leaf = { path: string; name: string; type: string; value: string }
type Folder = { name: string; path: string; folders: Map<string, Folder>; leaves: Leaf[] }

const CHARTS_PAGE = 12

/** Attributes and series as a tree of folders, paths split on `/`. */
export function buildTree(run: RunDetail): Folder {
  const root: Folder = { name: '', path: '', folders: new Map(), leaves: [] }
  const add = (path: string, type: string, value: string) => {
    const parts = path.split('/')
    let here = root
    parts.slice(0, -1).forEach((part, i) => {
      let next = here.folders.get(part)
      if (!next) {
        next = { name: part, path: parts.slice(0, i + 1).join('/'), folders: new Map(), leaves: [] }
        here.folders.set(part, next)
      }
      here = next
    })
    here.leaves.push({ path, name: parts[parts.length - 1], type, value })
  }
  for (const [path, attribute] of Object.entries(run.attributes)) add(path, attribute.type, valueText(attribute.value))
  for (const [path, s] of Object.entries(run.series)) add(path, s.type, seriesText(s))
  return root
}

function seriesText(s: Summary): string {
  if (s.type !== 'floatSeries') return `${s.count.toLocaleString('en-US')} points`
  return `last ${show(s.last)} · ${s.count.toLocaleString('en-US')} points`
}

function show(value: number | string): string {
  const n = toNumber(value)
  return n === null || !Number.isFinite(n) ? String(value) : number(n)
}

function summaryLine(s: Summary): string {
  const special = [s.nan_count && `${s.nan_count} NaN`, s.posinf_count && `${s.posinf_count} +Inf`,
    s.neginf_count && `${s.neginf_count} −Inf`].filter(Boolean).join(', ')
  return `last ${show(s.last)} · min ${show(s.min)} · max ${show(s.max)} · steps ${number(s.first_step)}–${number(s.last_step)}`
    + (special ? ` · ${special}` : '')
}

export function RunPage() {
  const { runId = '' } = useParams()
  const { data: run, error, loading, reload } = useQuery(`track-run:${runId}`, (signal) =>
    unwrap(api.GET('/api/track/runs/{run_id}', { params: { path: { run_id: runId } }, signal })))
  const selected = useSelectedRuns()
  if (error) return <div className="page"><ErrorBox error={error} what="the run" retry={reload} /></div>
  if (!run) return <div className="page">{loading && <Spinner />}</div>
  const color = runColor(run.run_id)
  const picked = selected.includes(run.run_id)
  return (
    <div className="page track-run-page">
      <Link className="back" to="/track">← Runs</Link>
      <div className="trace-head">
        <div className="page-head">
          <h1>
            <span className="run-swatch big" style={{ background: color }} aria-hidden />
            <span data-testid="run-id">{run.run_id}</span>
            <span className="version">{run.short_id}</span>
          </h1>
          <label className="small">
            <input type="checkbox" checked={picked} onChange={() => toggleRun(run.run_id)}
              style={{ accentColor: color }} /> selected for charts
          </label>
        </div>
        <dl className="facts inline">
          <div><dt>Experiment</dt><dd>{run.experiment_name || '–'}</dd></div>
          <div><dt>Created</dt><dd>{valueText(run.created_at)}</dd></div>
          <div><dt>Owner</dt><dd>{run.owner || '–'}</dd></div>
          <div><dt>Family</dt><dd>{run.family}</dd></div>
          {run.fork_parent_run_id && (
            <div className="lineage"><dt>Forked from</dt><dd>
              <span className="run-swatch" style={{ background: runColor(run.fork_parent_run_id) }} aria-hidden />
              <Link to={runPath(run.fork_parent_run_id)}>{run.fork_parent_run_id}</Link>
              {run.fork_step !== null && <> at step {number(run.fork_step)}</>}
            </dd></div>
          )}
        </dl>
      </div>
      <div className="run-layout">
        <AttributeTree run={run} />
        <div className="run-main">
          <Metrics run={run} color={color} />
          <RunMedia run={run} />
          <Logs run={run} />
        </div>
      </div>
    </div>
  )
}

function AttributeTree({ run }: { run: RunDetail }) {
  const tree = useMemo(() => buildTree(run), [run])
  return (
    <section className="attribute-tree" aria-label="Attributes">
      <h2>Attributes</h2>
      <FolderView folder={tree} depth={0} />
    </section>
  )
}

function FolderView({ folder, depth }: { folder: Folder; depth: number }) {
  const folders = [...folder.folders.values()].sort((a, b) => (a.name === 'sys' ? 1 : b.name === 'sys' ? -1 : a.name.localeCompare(b.name)))
  const leaves = [...folder.leaves].sort((a, b) => a.name.localeCompare(b.name))
  return (
    <ul className="tree" role={depth === 0 ? 'tree' : 'group'}>
      {folders.map((f) => <FolderNode key={f.path} folder={f} depth={depth} />)}
      {leaves.map((leaf) => (
        <li key={leaf.path} role="treeitem" className="tree-leaf" data-path={leaf.path} title={`${leaf.path} (${leaf.type})`}>
          <span className="tree-name">{leaf.name}</span>
          <span className="tree-value">{leaf.value}</span>
          <span className="tree-type">{leaf.type}</span>
        </li>
      ))}
    </ul>
  )
}

function FolderNode({ folder, depth }: { folder: Folder; depth: number }) {
  const [open, setOpen] = useState(folder.name !== 'sys' && depth < 2)
  return (
    <li role="treeitem" aria-expanded={open} className="tree-folder" data-path={folder.path}>
      <button className="tree-toggle" onClick={() => setOpen(!open)} aria-label={`${open ? 'Collapse' : 'Expand'} ${folder.path}`}>
        <span className="wf-toggle">{open ? '▾' : '▸'}</span> {folder.name}
      </button>
      {open && <FolderView folder={folder} depth={depth + 1} />}
    </li>
  )
}

function Metrics({ run, color }: { run: RunDetail; color: string }) {
  const [filter, setFilter] = useState('')
  const [shown, setShown] = useState(CHARTS_PAGE)
  const paths = useMemo(() => Object.entries(run.series).filter(([, s]) => s.type === 'floatSeries')
    .map(([p]) => p).sort(), [run])
  const matching = useMemo(() => paths.filter(pathMatcher(filter)), [paths, filter])
  return (
    <section className="run-metrics" aria-label="Metrics">
      <div className="section-head">
        <h2>Metrics <span className="muted small">{matching.length === paths.length ? paths.length : `${matching.length} of ${paths.length}`}</span></h2>
        <input className="grid-search" value={filter} onChange={(e) => {
          setFilter(e.target.value)
          setShown(CHARTS_PAGE)
        }} placeholder="Find metrics (regex)" aria-label="Find metrics" />
      </div>
      {!paths.length && <p className="muted">This run has no float series.</p>}
      <div className="chart-grid track-charts">
        {matching.slice(0, shown).map((path) => (
          <MetricChart key={path} runId={run.run_id} path={path} color={color} summary={summaryLine(run.series[path])} />
        ))}
      </div>
      {matching.length > shown && (
        <button className="load-more" onClick={() => setShown(shown + CHARTS_PAGE)}>
          Show {Math.min(CHARTS_PAGE, matching.length - shown)} more of {matching.length - shown}
        </button>
      )}
    </section>
  )
}

function Logs({ run }: { run: RunDetail }) {
  const paths = Object.entries(run.series).filter(([, s]) => s.type === 'stringSeries').map(([p]) => p).sort()
  if (!paths.length) return null
  return (
    <section className="run-logs" aria-label="Logs">
      <h2>Logs</h2>
      {paths.map((path, i) => <StringLog key={path} runId={run.run_id} path={path} count={run.series[path].count} initiallyOpen={i === 0} />)}
    </section>
  )
}

const LOG_LINES = 1000

function StringLog({ runId, path, count, initiallyOpen }: { runId: string; path: string; count: number; initiallyOpen: boolean }) {
  const [open, setOpen] = useState(initiallyOpen)
  const [search, setSearch] = useState('')
  return (
    <div className="string-log" data-path={path}>
      <button className="tree-toggle" onClick={() => setOpen(!open)} aria-expanded={open}>
        <span className="wf-toggle">{open ? '▾' : '▸'}</span> {path} <span className="muted small">{count.toLocaleString('en-US')} lines</span>
      </button>
      {open && <LogLines runId={runId} path={path} search={search} setSearch={setSearch} />}
    </div>
  )
}

function LogLines({ runId, path, search, setSearch }: { runId: string; path: string; search: string; setSearch: (s: string) => void }) {
  const { data, error, reload } = useQuery(`log:${runId}:${path}`, (signal) => unwrap(api.GET(
    '/api/track/runs/{run_id}/points', { params: { path: { run_id: runId }, query: { path, kind: 'string' } }, signal })))
  if (error) return <ErrorBox error={error} what="the log" retry={reload} />
  if (!data) return <Spinner />
  const needle = search.toLowerCase()
  const lines = needle ? data.points.filter((p) => String(p.value).toLowerCase().includes(needle)) : data.points
  return (
    <div className="log-body">
      <input className="grid-search" value={search} onChange={(e) => setSearch(e.target.value)}
        placeholder="Search this log" aria-label={`Search ${path}`} />
      <span className="muted small"> {needle ? `${lines.length} of ${data.points.length} lines match` : ''}</span>
      <ol className="log-lines">
        {lines.slice(0, LOG_LINES).map((p) => (
          <li key={p.step}><span className="log-step">{number(p.step)}</span><span className="log-text">{String(p.value)}</span></li>
        ))}
      </ol>
      {lines.length > LOG_LINES && <p className="muted small">The first {LOG_LINES} of {lines.length}: narrow the search to see others.</p>}
    </div>
  )
}
