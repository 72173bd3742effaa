import { useState } from 'react'
import { Link, useNavigate, useSearchParams } from 'react-router'
import { api, unwrap, type Schemas } from '../../api/client'
import { CopyBlock } from '../../components/CopyBlock'
import { ErrorBox, Spinner } from '../../components/Feedback'
import { RANGES } from '../../components/TimeRange'
import { ago, count, fullTime } from '../../lib/format'
import { useQuery } from '../../lib/useQuery'
import { activeChips, toQuery } from '../traces/filters'

const API_SNIPPET = `curl -X POST $NEON_BASE_URL/api/datasets -H "Authorization: Bearer $NEON_API_KEY" \\
  -H 'content-type: application/json' \\
  -d '{"name": "support-questions", "items": [{"input": "Any fees?", "expected": "no monthly fee"}]}'`

export function DatasetsPage() {
  const [params] = useSearchParams()
  const datasets = useQuery('datasets', (signal) => unwrap(api.GET('/api/datasets', { signal })))
  const fromTraces = params.get('traces')
  const [creating, setCreating] = useState(fromTraces !== null)
  const list = datasets.data?.datasets ?? []
  return (
    <div className="page datasets-page">
      <div className="page-head">
        <h1>Datasets</h1>
        <button className={creating ? 'secondary' : 'primary'} onClick={() => setCreating(!creating)} aria-expanded={creating}>
          {creating ? 'Close' : 'New from traces'}
        </button>
      </div>
      {creating && <FromTracesForm initial={fromTraces ?? 'range=7d'} onDone={datasets.reload} />}
      {datasets.error && <ErrorBox error={datasets.error} what="datasets" retry={datasets.reload} />}
      {datasets.loading && !datasets.data && <Spinner />}
      {datasets.data && list.length === 0 && (
        <div className="empty empty-wide">
          <h2>No datasets yet</h2>
          <p>A dataset is a versioned list of cases — an input, optionally the expected answer and tools — that eval
            suites run on. Make one from production traces (<button className="link inline" onClick={() => setCreating(true)}>New from traces</button>,
            or “Save as dataset” on the Traces page), or through the API:</p>
          <CopyBlock label="Terminal" code={API_SNIPPET} />
        </div>
      )}
      {list.length > 0 && (
        <div className="table-scroll">
          <table className="plain-table" aria-label="Datasets">
            <thead><tr><th>Name</th><th className="num">Items</th><th className="num">Version</th><th>Updated</th><th>Description</th></tr></thead>
            <tbody>
              {list.map((d) => (
                <tr key={d.id} data-dataset={d.name}>
                  <td><Link className="strong" to={`/datasets/${encodeURIComponent(d.name)}`}>{d.name}</Link></td>
                  <td className="num">{count(d.item_count)}</td>
                  <td className="num">v{d.current_version}</td>
                  <td title={fullTime(d.updated_at)}>{ago(d.updated_at)}</td>
                  <td className="muted">{d.description}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  )
}

type FromTracesResult = Schemas['FromTracesResult']

/** The trace filter in the API's words: the traces page's URL filters, without its paging and sorting. */
export function traceFilterOf(query: string, now: number): Schemas['TraceFilterIn'] {
  const { limit: _limit, sort: _sort, order: _order, cursor: _cursor, ...filter } = toQuery(new URLSearchParams(query), now)
  return filter
}

function FromTracesForm({ initial, onDone }: { initial: string; onDone: () => void }) {
  const navigate = useNavigate()
  const [filters, setFilters] = useState(() => new URLSearchParams(initial))
  const [name, setName] = useState('')
  const [limit, setLimit] = useState(100)
  const [expected, setExpected] = useState<'output' | 'none'>('output')
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<Error | null>(null)
  const [result, setResult] = useState<FromTracesResult | null>(null)

  const edit = (key: string, value: string) => {
    const next = new URLSearchParams(filters)
    if (value) next.set(key, value)
    else next.delete(key)
    if (key === 'range' && value) {
      next.delete('from')
      next.delete('to')
    }
    setFilters(next)
  }
  const others = activeChips(filters).filter((c) => !['name_contains', 'tag'].includes(c.key))
  const submit = async () => {
    setBusy(true)
    setError(null)
    setResult(null)
    try {
      const made = await unwrap(api.POST('/api/datasets/{name}/from-traces', {
        params: { path: { name: name.trim() } },
        body: { filter: traceFilterOf(filters.toString(), Date.now()), limit, expected },
      }))
      setResult(made)
      onDone()
    } catch (err) {
      setError(err as Error)
    } finally {
      setBusy(false)
    }
  }

  return (
    <form className="card from-traces" aria-label="New dataset from traces" onSubmit={(e) => { e.preventDefault(); void submit() }}>
      <h2>New dataset from traces</h2>
      <p className="muted">Each matching trace (newest first) becomes an item: the root span's input, and its output as the
        expected answer. Adding to an existing dataset makes a new version; traces already in it are skipped.</p>
      <div className="form-grid">
        <label className="field"><span>Dataset name</span>
          <input aria-label="Dataset name" required pattern="[A-Za-z0-9][A-Za-z0-9._\-]{0,99}" placeholder="e.g. refund-questions"
            title="letters, digits, '.', '_' or '-'" value={name} onChange={(e) => setName(e.target.value)} /></label>
        <label className="field"><span>Time</span>
          <select aria-label="Time range" value={filters.get('from') ? '' : filters.get('range') ?? '24h'} onChange={(e) => edit('range', e.target.value)}>
            {Object.keys(RANGES).map((r) => <option key={r} value={r}>last {r}</option>)}
            {filters.get('from') && <option value="">custom</option>}
          </select></label>
        <label className="field"><span>Status</span>
          <select aria-label="Trace status" value={filters.get('status') ?? ''} onChange={(e) => edit('status', e.target.value)}>
            <option value="">any</option><option value="ok">ok</option><option value="error">error</option><option value="unset">unset</option>
          </select></label>
        <label className="field"><span>Name contains</span>
          <input aria-label="Trace name contains" value={filters.get('name_contains') ?? ''} onChange={(e) => edit('name_contains', e.target.value)} /></label>
        <label className="field"><span>Tag</span>
          <input aria-label="Trace tag" value={filters.get('tag') ?? ''} onChange={(e) => edit('tag', e.target.value)} /></label>
        <label className="field"><span>At most</span>
          <input aria-label="At most traces" type="number" min={1} max={1000} value={limit} onChange={(e) => setLimit(Number(e.target.value))} /></label>
        <label className="field"><span>Expected</span>
          <select aria-label="Expected answer" value={expected} onChange={(e) => setExpected(e.target.value as 'output' | 'none')}>
            <option value="output">the trace's output</option><option value="none">none (fill in later)</option>
          </select></label>
      </div>
      {(others.length > 0 || filters.get('search')) && (
        <div className="chips">
          <span className="chip-label">Also from the traces page:</span>
          {filters.get('search') && <span className="chip">Search: {filters.get('search')} <button type="button" aria-label="Remove search" onClick={() => edit('search', '')}>×</button></span>}
          {others.map((c) => (
            <span key={`${c.key}=${c.value}`} className="chip"><span className="chip-label">{c.label}</span> {c.value}
              <button type="button" aria-label={`Remove ${c.label}`} onClick={() => {
                const next = new URLSearchParams(filters)
                next.delete(c.key, c.value)
                setFilters(next)
              }}>×</button></span>
          ))}
        </div>
      )}
      <div className="form-actions">
        <button className="primary" type="submit" disabled={busy || !name.trim()}>{busy ? 'Adding…' : 'Create from traces'}</button>
        <Link to={`/traces?${filters.toString()}`}>Preview these traces →</Link>
      </div>
      {error && <ErrorBox error={error} what="the dataset" />}
      {result && (
        <div className="new-key" role="status">
          {result.added > 0
            ? <>Added {result.added} item{result.added === 1 ? '' : 's'} to <strong>{result.dataset.name}</strong> (version {result.version}). </>
            : <>No item added to <strong>{result.dataset.name}</strong>. </>}
          {result.matched} trace{result.matched === 1 ? '' : 's'} matched
          {result.skipped.already_in_dataset > 0 && `, ${result.skipped.already_in_dataset} already in the dataset`}
          {result.skipped.no_root_input > 0 && `, ${result.skipped.no_root_input} without a root input`}.
          {' '}<button type="button" className="link" onClick={() => navigate(`/datasets/${encodeURIComponent(result.dataset.name)}`)}>Open the dataset →</button>
        </div>
      )}
    </form>
  )
}
