import { useVirtualizer } from '@tanstack/react-virtual'
import { memo, useCallback, useEffect, useMemo, useRef, useState } from 'react'
import { Link, useNavigate, useSearchParams } from 'react-router'
import { api, ApiError, unwrap } from '../../api/client'
import { Empty, ErrorBox } from '../../components/Feedback'
import { ColumnPicker, GroupPicker } from './ColumnPicker'
import { NqlBar } from './NqlBar'
import { SavedViews, type SavedView, type ViewState } from './SavedViews'
import { TrackNav } from './TrackNav'
import {
  FLOAT_AGGREGATES, OTHER_AGGREGATES, runColor, runPath, setSelectedRuns, toggleRun, useSelectedRuns, valueText,
  type GroupColumn, type TableColumn, type TableGroup, type TableRequest, type TableResponse, type TableRow,
} from './runs'

const ROW_HEIGHT = 36
const PAGE = 100
/** What a new table shows: when it was made and a few of the server's own attributes. */
const DEFAULT_COLUMNS: TableColumn[] = [
  { path: 'sys/creation_time' }, { path: 'sys/experiment/name' }, { path: 'sys/owner' }, { path: 'sys/tags' },
]
/** The fixed columns sort on these attributes. */
const RUN_ID = 'sys/custom_run_id'
const NAME = 'sys/name'

type Sort = { path: string; aggregate: string | null; direction: 'asc' | 'desc' }
type GroupRuns = { rows: TableRow[]; cursor: string | null; loading: boolean }
type Item =
  | { kind: 'row'; row: TableRow; depth: number }
  | { kind: 'group'; group: TableGroup }
  | { kind: 'more'; key: string }
type QueryError = { message: string; position: number | null; query: string }

// The table's state lives in the address, so a link opens the same view: q, col (repeated, path~aggregate),
// sort (path~aggregate~direction) and group (repeated).
function readColumns(params: URLSearchParams): TableColumn[] {
  if (!params.has('col')) return DEFAULT_COLUMNS
  return params.getAll('col').filter(Boolean).map((c) => {
    const [path, aggregate] = splitLast(c)
    return aggregate ? { path, aggregate: aggregate as TableColumn['aggregate'] } : { path }
  })
}

function splitLast(text: string): [string, string] {
  const at = text.lastIndexOf('~')
  return at < 0 ? [text, ''] : [text.slice(0, at), text.slice(at + 1)]
}

function readSort(params: URLSearchParams): Sort | null {
  const raw = params.get('sort')
  if (!raw) return null
  const [rest, direction] = splitLast(raw)
  const [path, aggregate] = splitLast(rest)
  return { path, aggregate: aggregate || null, direction: direction === 'asc' ? 'asc' : 'desc' }
}

function columnKey(c: { path: string; aggregate?: string | null }): string {
  return c.aggregate ? `${c.path}~${c.aggregate}` : c.path
}

export function RunsTablePage() {
  const [params, setParams] = useSearchParams()
  const query = params.get('q') ?? ''
  const columns = useMemo(() => readColumns(params), [params])
  const sort = useMemo(() => readSort(params), [params])
  const groupBy = useMemo(() => params.getAll('group').filter(Boolean), [params])
  const [answer, setAnswer] = useState<TableResponse | null>(null)
  const [rows, setRows] = useState<TableRow[]>([])
  const [cursor, setCursor] = useState<string | null>(null)
  const [groups, setGroups] = useState<TableGroup[]>([])
  const [groupsCursor, setGroupsCursor] = useState<string | null>(null)
  const [open, setOpen] = useState<Record<string, GroupRuns>>({})
  const [loading, setLoading] = useState(true)
  const [error, setError] = useState<Error | null>(null)
  const [queryError, setQueryError] = useState<QueryError | null>(null)
  const selected = useSelectedRuns()
  const generation = useRef(0)

  const request = useCallback((extra: Partial<TableRequest>): TableRequest => ({
    query: query || null, columns, limit: PAGE, group_by: [], group_limit: PAGE,
    sort: sort ? [{ path: sort.path, aggregate: sort.aggregate as TableColumn['aggregate'], direction: sort.direction }] : [],
    ...extra,
  }), [query, columns, sort])

  const fail = useCallback((err: unknown) => {
    if (err instanceof ApiError && err.status === 422 && typeof err.details.position === 'number') {
      setQueryError({ message: err.message, position: err.details.position, query })
    } else if (err instanceof ApiError && err.status === 422 && err.message.startsWith('query')) {
      setQueryError({ message: err.message, position: null, query })
    } else {
      setError(err as Error)
    }
  }, [query])

  const load = useCallback(async (after: string | null) => {
    const mine = generation.current
    setLoading(true)
    try {
      const body = groupBy.length
        ? request({ group_by: groupBy, group_after: after, group_limit: PAGE })
        : request({ after })
      const page = await unwrap(api.POST('/api/track/table', { body }))
      if (mine !== generation.current) return
      setAnswer(page)
      if (groupBy.length) {
        setGroups((old) => (after ? [...old, ...(page.groups ?? [])] : page.groups ?? []))
        setGroupsCursor(page.groups_next_cursor ?? null)
        if (!after) {
          setRows([])
          setOpen({})
        }
      } else {
        setRows((old) => (after ? [...old, ...page.rows] : page.rows))
        setCursor(page.next_cursor)
        if (!after) setGroups([])
      }
      setError(null)
      setQueryError(null)
    } catch (err) {
      if (mine === generation.current) fail(err)
    } finally {
      if (mine === generation.current) setLoading(false)
    }
  }, [groupBy, request, fail])

  // A new query, columns, sort or grouping: the rows on screen stay until the new ones arrive (or the query fails).
  useEffect(() => {
    generation.current += 1
    setCursor(null)
    setGroupsCursor(null)
    void load(null)
  }, [load])

  const loadGroup = useCallback(async (key: string, after: string | null) => {
    const mine = generation.current
    setOpen((old) => ({ ...old, [key]: { rows: old[key]?.rows ?? [], cursor: old[key]?.cursor ?? null, loading: true } }))
    try {
      const page = await unwrap(api.POST('/api/track/table', { body: request({ group_by: groupBy, group: key, after }) }))
      if (mine !== generation.current) return
      setOpen((old) => ({
        ...old, [key]: { rows: [...(after ? old[key]?.rows ?? [] : []), ...page.rows], cursor: page.next_cursor, loading: false },
      }))
    } catch (err) {
      if (mine === generation.current) fail(err)
    }
  }, [groupBy, request, fail])

  // a group charted as one line: its runs (up to the 1,000 a formula aggregates), then the charts view in group mode
  const navigate = useNavigate()
  const chartGroup = useCallback(async (key: string, label: string) => {
    try {
      const page = await unwrap(api.POST('/api/track/table', { body: request({ group_by: groupBy, group: key, limit: 1000 }) }))
      navigate(`/track/charts?group=${encodeURIComponent(label)}&${page.rows.map((r) => `run=${encodeURIComponent(r.run_id)}`).join('&')}`)
    } catch (err) {
      fail(err)
    }
  }, [groupBy, request, fail, navigate])

  const toggleGroup = (key: string) => {
    if (open[key]) {
      setOpen((old) => {
        const next = { ...old }
        delete next[key]
        return next
      })
    } else {
      void loadGroup(key, null)
    }
  }

  const items: Item[] = useMemo(() => {
    if (!groupBy.length) return rows.map((row) => ({ kind: 'row', row, depth: 0 }))
    const out: Item[] = []
    for (const group of groups) {
      out.push({ kind: 'group', group })
      const runs = open[group.key]
      if (!runs) continue
      for (const row of runs.rows) out.push({ kind: 'row', row, depth: 1 })
      if (runs.cursor) out.push({ kind: 'more', key: group.key })
    }
    return out
  }, [groupBy.length, rows, groups, open])

  useEffect(() => {
    if (items.length && !loading) performance.mark('neon:track-rows')
  }, [items, loading])

  const scroller = useRef<HTMLDivElement>(null)
  const virtualizer = useVirtualizer({
    count: items.length, getScrollElement: () => scroller.current, estimateSize: () => ROW_HEIGHT, overscan: 12,
  })
  const visible = virtualizer.getVirtualItems()
  const lastIndex = visible.length ? visible[visible.length - 1].index : 0
  const nextCursor = groupBy.length ? groupsCursor : cursor
  useEffect(() => {
    if (nextCursor && !loading && lastIndex >= items.length - 20) void load(nextCursor)
  }, [lastIndex, nextCursor, loading, items.length, load])

  const update = (change: (next: URLSearchParams) => void) => {
    const next = new URLSearchParams(params)
    change(next)
    setParams(next)
  }
  const setColumns = (next: TableColumn[]) => update((p) => {
    p.delete('col')
    if (!next.length) p.append('col', '')
    for (const c of next) p.append('col', columnKey(c))
  })
  const sortBy = (path: string, aggregate: string | null) => update((p) => {
    const same = sort && sort.path === path && sort.aggregate === aggregate
    const direction = same && sort.direction === 'desc' ? 'asc' : 'desc'
    p.set('sort', `${path}~${aggregate ?? ''}~${direction}`)
  })
  const setGroupBy = (paths: string[]) => update((p) => {
    p.delete('group')
    for (const path of paths) p.append('group', path)
  })

  // saved views: the address keeps the applied view's id beside the state it set
  const viewState: ViewState = useMemo(() => ({
    query: query || null, columns, group_by: groupBy,
    sort: sort ? [{ path: sort.path, aggregate: sort.aggregate as TableColumn['aggregate'], direction: sort.direction }] : [],
  }), [query, columns, sort, groupBy])
  const applyView = useCallback((view: SavedView, replace = false) => {
    const next = new URLSearchParams()
    const s = view.state
    if (s.query) next.set('q', s.query)
    if (!s.columns?.length) next.append('col', '')
    for (const c of s.columns ?? []) next.append('col', columnKey(c))
    const first = s.sort?.[0]
    if (first) next.set('sort', `${first.path}~${first.aggregate ?? ''}~${first.direction ?? 'asc'}`)
    for (const path of s.group_by ?? []) next.append('group', path)
    next.set('view', view.id)
    setParams(next, { replace })
  }, [setParams])
  const viewId = params.get('view')
  const onlyView = !!viewId && !['q', 'col', 'sort', 'group'].some((k) => params.has(k))
  useEffect(() => {
    // a link of just `?view=<id>`: open the view it names
    if (!onlyView || !viewId) return
    unwrap(api.GET('/api/track/views/{view_id}', { params: { path: { view_id: viewId } } }))
      .then((view) => applyView(view, true), (err: unknown) => setError(err as Error))
  }, [onlyView, viewId, applyView])

  const resolved = answer?.columns ?? []
  // a series column holds its aggregate's picker too
  const widths = columns.map((c, i) => (c.aggregate || resolved[i]?.type?.endsWith('Series') ? 210
    : resolved[i]?.type === 'datetime' ? 180 : 140))
  const template = `36px minmax(170px, 1.4fr) minmax(140px, 1fr) ${widths.map((w) => `minmax(${w}px, 1fr)`).join(' ')}`
  const minWidth = 36 + 170 + 140 + widths.reduce((a, b) => a + b, 0)
  const sortMark = (path: string, aggregate: string | null) =>
    sort && sort.path === path && (sort.aggregate ?? null) === aggregate ? (sort.direction === 'asc' ? ' ↑' : ' ↓') : ''
  const ariaSort = (path: string, aggregate: string | null) =>
    sort && sort.path === path && (sort.aggregate ?? null) === aggregate
      ? (sort.direction === 'asc' ? 'ascending' : 'descending') : 'none'

  return (
    <div className="page track-page">
      <TrackNav />
      <div className="page-head">
        <h1>Runs {answer && <span className="muted small" data-testid="runs-total">{answer.total.toLocaleString('en-US')} runs</span>}</h1>
        <div className="head-actions">
          {selected.length > 0 && (
            <span className="small">
              <b>{selected.length}</b> selected for charts
              <button className="link" onClick={() => setSelectedRuns([])}>Clear</button>
              <Link className="compare-link" to={`/track/charts?${selected.map((r) => `run=${encodeURIComponent(r)}`).join('&')}`}>Charts</Link>
              {selected.length > 1 && <Link className="compare-link" to={`/track/compare?${selected.map((r) => `run=${encodeURIComponent(r)}`).join('&')}`}>Compare</Link>}
            </span>
          )}
          <SavedViews state={viewState} applied={viewId} onApply={(v) => applyView(v)} />
          <GroupPicker value={groupBy} onChange={setGroupBy} />
          <ColumnPicker columns={columns} onAdd={(added) => setColumns([...columns, ...added.filter(
            (a) => !columns.some((c) => columnKey(c) === columnKey(a)))])} />
        </div>
      </div>
      <NqlBar value={query} error={queryError}
        onSubmit={(q) => update((p) => (q ? p.set('q', q) : p.delete('q')))} />
      {error && <ErrorBox error={error} what="runs" retry={() => void load(null)} />}
      <div className="table runs-table-wrap">
        <div className="runs-scroll" ref={scroller} role="table" aria-label="Runs" aria-rowcount={items.length}>
          <div className="tr thead runs-head" role="row" style={{ gridTemplateColumns: template, minWidth }}>
            <div className="th" role="columnheader" title="Select runs for charts">◐</div>
            <button className="th sortable" role="columnheader" aria-sort={ariaSort(RUN_ID, null)}
              onClick={() => sortBy(RUN_ID, null)}>Run{sortMark(RUN_ID, null)}</button>
            <button className="th sortable" role="columnheader" aria-sort={ariaSort(NAME, null)}
              onClick={() => sortBy(NAME, null)}>Name{sortMark(NAME, null)}</button>
            {columns.map((c, i) => {
              const type = resolved[i]?.type ?? null
              const aggregate = c.aggregate ?? resolved[i]?.aggregate ?? null
              const isSeries = !!type && type.endsWith('Series')
              return (
                <div key={columnKey(c)} className="th column-head" role="columnheader" data-column={c.path}
                  aria-sort={ariaSort(c.path, c.aggregate ?? null)}>
                  <button className="column-label" title={`${c.path}${type ? ` (${type})` : ''} — sort`}
                    onClick={() => sortBy(c.path, c.aggregate ?? null)}>
                    {c.path}{sortMark(c.path, c.aggregate ?? null)}
                  </button>
                  {isSeries && (
                    <select aria-label={`Aggregate of ${c.path}`} value={aggregate ?? ''} onChange={(e) => {
                      const next = [...columns]
                      next[i] = { ...c, aggregate: e.target.value as TableColumn['aggregate'] }
                      setColumns(next)
                    }}>
                      {(type === 'floatSeries' ? FLOAT_AGGREGATES : OTHER_AGGREGATES).map((a) => <option key={a}>{a}</option>)}
                    </select>
                  )}
                  <button className="remove" aria-label={`Remove column ${c.path}`} title="Remove column"
                    onClick={() => setColumns(columns.filter((_, j) => j !== i))}>×</button>
                </div>
              )
            })}
          </div>
          {!loading && !error && items.length === 0 && (
            query ? <Empty title="No runs match this query"><p>Change or clear the filter.</p></Empty> : (
              <Empty title="No runs yet">
                <p>Log runs with <code>neptune_scale.Run</code> (set <code>NEPTUNE_API_TOKEN</code> and
                  <code>NEPTUNE_PROJECT</code> from <code>neon neptune token</code>) or <code>neon.track.Run</code>;
                  they appear here as they are written.</p>
              </Empty>
            )
          )}
          <div style={{ height: virtualizer.getTotalSize(), position: 'relative', minWidth }}>
            {visible.map((v) => {
              const item = items[v.index]
              const style = { position: 'absolute' as const, top: 0, transform: `translateY(${v.start}px)`, height: ROW_HEIGHT,
                gridTemplateColumns: template, minWidth }
              if (item.kind === 'group') {
                return <GroupRowView key={`g:${item.group.key}`} group={item.group} groupBy={groupBy} style={style}
                  open={!!open[item.group.key]} loading={!!open[item.group.key]?.loading}
                  onToggle={() => toggleGroup(item.group.key)} onChart={(label) => void chartGroup(item.group.key, label)} />
              }
              if (item.kind === 'more') {
                return (
                  <div key={`m:${item.key}`} className="tr run-row more-row" style={style} role="row">
                    <div />
                    <button className="link" onClick={() => void loadGroup(item.key, open[item.key]?.cursor ?? null)}>
                      More runs of this group…
                    </button>
                  </div>
                )
              }
              return <RunRow key={`r:${item.row.run_id}`} row={item.row} depth={item.depth} start={v.start}
                template={template} minWidth={minWidth} picked={selected.includes(item.row.run_id)} />
            })}
          </div>
          {loading && <div className="loading-row">Loading…</div>}
        </div>
      </div>
    </div>
  )
}

/** A run's row: memoised, so that a page of rows arriving (or the loading line) re-renders none of those on
 * screen — only the rows whose place or selection changed. */
const RunRow = memo(function RunRow({ row, depth, start, template, minWidth, picked }: {
  row: TableRow
  depth: number
  start: number
  template: string
  minWidth: number
  picked: boolean
}) {
  return (
    <div role="row" className={`tr run-row ${picked ? 'picked' : ''} depth-${depth}`} data-run-id={row.run_id}
      style={{ position: 'absolute', top: 0, transform: `translateY(${start}px)`, height: ROW_HEIGHT,
        gridTemplateColumns: template, minWidth }}>
      <div className="td pick-cell" role="cell">
        <input type="checkbox" checked={picked} onChange={() => toggleRun(row.run_id)}
          aria-label={`Select ${row.run_id} for charts`} style={{ accentColor: runColor(row.run_id) }} />
      </div>
      <div className="td run-id" role="cell">
        <span className="run-swatch" style={{ background: runColor(row.run_id) }} aria-hidden />
        <Link to={runPath(row.run_id)} title={row.short_id}>{row.run_id}</Link>
      </div>
      <div className="td" role="cell" title={row.name}>{row.name}</div>
      {row.values.map((value, i) => {
        const text = valueText(value)
        return <div key={i} className={`td ${typeof value === 'number' ? 'num' : ''}`} role="cell" title={text}>{text}</div>
      })}
    </div>
  )
})

function GroupRowView({ group, groupBy, style, open, loading, onToggle, onChart }: {
  group: TableGroup
  groupBy: string[]
  style: React.CSSProperties
  open: boolean
  loading: boolean
  onToggle: () => void
  onChart: (label: string) => void
}) {
  const label = group.values.map((v, i) => `${groupBy[i]} = ${v === null ? '(none)' : valueText(v)}`).join(' · ')
  return (
    <div role="row" className={`tr group-row ${open ? 'open' : ''}`} style={style} data-group={label}>
      <div className="td pick-cell" role="cell">
        <button className="wf-toggle" aria-expanded={open} aria-label={`${open ? 'Collapse' : 'Expand'} ${label}`}
          onClick={onToggle}>{open ? '▾' : '▸'}</button>
      </div>
      <div className="td group-label" role="cell" title={label}>
        <button className="link inline" onClick={onToggle}>{label}</button>
        <button className="link small group-chart" onClick={() => onChart(label)} aria-label={`Chart ${label}`}
          title="Chart this group as one line: the mean of its runs with a ± std band">mean ± std</button>
      </div>
      <div className="td" role="cell"><span className="group-runs">{group.runs} {group.runs === 1 ? 'run' : 'runs'}</span>
        {loading && <span className="muted small"> loading…</span>}</div>
      {group.columns.map((c, i) => <div key={i} className="td num" role="cell" title={statsTitle(c)}>{statsText(c)}</div>)}
    </div>
  )
}

function statsText(c: GroupColumn | null): string {
  if (!c || c.mean === null) return ''
  return c.std === null ? valueText(c.mean) : `${valueText(c.mean)} ± ${valueText(c.std)}`
}

function statsTitle(c: GroupColumn | null): string {
  if (!c || c.mean === null) return ''
  return `mean ${valueText(c.mean)}, std ${c.std === null ? '–' : valueText(c.std)} (n−1), min ${valueText(c.min)}, `
    + `max ${valueText(c.max)}, over ${c.count} runs`
}
