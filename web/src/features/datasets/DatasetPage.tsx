import { useEffect, useState } from 'react'
import { Link, useParams, useSearchParams } from 'react-router'
import { api, unwrap, type DatasetItem } from '../../api/client'
import { Empty, ErrorBox, Spinner } from '../../components/Feedback'
import { ago, count, fullTime } from '../../lib/format'
import { useQuery } from '../../lib/useQuery'
import { Value } from '../evals/CaseDetails'

const PAGE = 200

export function DatasetPage() {
  const { name = '' } = useParams()
  const [params, setParams] = useSearchParams()
  const version = params.get('version') ? Number(params.get('version')) : undefined
  const dataset = useQuery(`dataset:${name}`, (signal) => unwrap(api.GET('/api/datasets/{name}', {
    params: { path: { name } }, signal,
  })))
  const versions = useQuery(`dataset-versions:${name}`, (signal) => unwrap(api.GET('/api/datasets/{name}/versions', {
    params: { path: { name } }, signal,
  })))
  const [extra, setExtra] = useState<{ items: DatasetItem[]; next: number | null }>({ items: [], next: null })
  const [moreError, setMoreError] = useState<Error | null>(null)
  const items = useQuery(`dataset-items:${name}:${version ?? ''}`, (signal) => unwrap(api.GET('/api/datasets/{name}/items', {
    params: { path: { name }, query: { limit: PAGE, ...(version ? { version } : {}) } }, signal,
  })))
  useEffect(() => setExtra({ items: [], next: null }), [items.data])
  const [open, setOpen] = useState<string | null>(null)

  const loadMore = async (offset: number) => {
    try {
      const page = await unwrap(api.GET('/api/datasets/{name}/items', {
        params: { path: { name }, query: { limit: PAGE, offset, version: items.data?.version } },
      }))
      setExtra((old) => ({ items: [...old.items, ...page.items], next: page.next_offset }))
    } catch (err) {
      setMoreError(err as Error)
    }
  }

  if (dataset.error) {
    return (
      <div className="page">
        <Link className="back" to="/datasets">← Datasets</Link>
        <ErrorBox error={dataset.error} what={`dataset ${name}`} retry={dataset.reload} />
      </div>
    )
  }
  const d = dataset.data
  const shown = [...(items.data?.items ?? []), ...extra.items]
  const next = extra.items.length ? extra.next : items.data?.next_offset ?? null
  const at = items.data?.version ?? version ?? d?.current_version
  const history = versions.data?.versions ?? []

  return (
    <div className="page dataset-page">
      <Link className="back" to="/datasets">← Datasets</Link>
      <div className="trace-head">
        <h1>{name} {d && <span className="tag">v{d.current_version}</span>}</h1>
        {d?.description && <p className="muted">{d.description}</p>}
        {d && (
          <dl className="facts inline">
            <div><dt>Items now</dt><dd>{count(d.item_count)}</dd></div>
            <div><dt>Created</dt><dd title={fullTime(d.created_at)}>{ago(d.created_at)}</dd></div>
            <div><dt>Updated</dt><dd title={fullTime(d.updated_at)}>{ago(d.updated_at)}</dd></div>
            <div><dt>In a suite</dt><dd><code>{`dataset=Dataset.from_server(client, "${name}"${version ? `, version=${version}` : ''})`}</code></dd></div>
          </dl>
        )}
      </div>
      <div className="page-head">
        <h2>Items {at !== undefined && <>at version {at}</>}</h2>
        <label className="field">
          <span>Version</span>
          <select aria-label="Version" value={String(at ?? '')} onChange={(e) => {
            const next = new URLSearchParams(params)
            if (Number(e.target.value) === d?.current_version) next.delete('version')
            else next.set('version', e.target.value)
            setParams(next)
          }}>
            {at !== undefined && !history.some((v) => v.version === at) && <option value={String(at)}>v{at}</option>}
            {[...history].reverse().map((v) => (
              <option key={v.version} value={String(v.version)}>
                v{v.version} · {v.item_count} items · {v.change}{v.version === d?.current_version ? ' (current)' : ''}
              </option>
            ))}
          </select>
        </label>
      </div>
      {versions.error && <ErrorBox error={versions.error} what="the versions" retry={versions.reload} />}
      {items.error && <ErrorBox error={items.error} what="the items" retry={items.reload} />}
      {items.loading && !items.data && <Spinner />}
      {items.data && shown.length === 0 && (
        <Empty title={`No items at version ${items.data.version}`}>
          <p>Add items through <code>POST /api/datasets/{name}/items</code> or from traces on the Datasets page.</p>
        </Empty>
      )}
      {shown.length > 0 && (
        <div className="table-scroll">
          <table className="plain-table items-table" aria-label="Dataset items">
            <thead><tr><th>Item</th><th>Input</th><th>Expected</th><th>Expected tools</th><th>From trace</th><th className="num">Added in</th></tr></thead>
            <tbody>
              {shown.map((item) => (
                <ItemRow key={item.id} item={item} open={open === item.id} onToggle={() => setOpen(open === item.id ? null : item.id)} />
              ))}
            </tbody>
          </table>
        </div>
      )}
      {moreError && <ErrorBox error={moreError} what="more items" />}
      {next !== null && next !== undefined && <button className="secondary load-more" onClick={() => void loadMore(next)}>Load more</button>}
    </div>
  )
}

function ItemRow({ item, open, onToggle }: { item: DatasetItem; open: boolean; onToggle: () => void }) {
  return (
    <>
      <tr className="item-row" data-item-id={item.id} onClick={onToggle} aria-expanded={open}>
        <td><button className="link case-link" onClick={(e) => { e.stopPropagation(); onToggle() }}>{open ? '▾' : '▸'} {item.id}</button></td>
        <td className="preview" title={preview(item.input, 2000)}>{preview(item.input)}</td>
        <td className="preview" title={preview(item.expected, 2000)}>{item.expected === null ? <span className="muted">–</span> : preview(item.expected)}</td>
        <td>{item.expected_tools?.join(', ') ?? <span className="muted">–</span>}</td>
        <td>{item.source_trace_id ? <Link to={`/traces/${item.source_trace_id}`} onClick={(e) => e.stopPropagation()}>trace</Link> : <span className="muted">–</span>}</td>
        <td className="num">v{item.added_in}</td>
      </tr>
      {open && (
        <tr className="item-details">
          <td colSpan={6}>
            <div className="outputs">
              <div><h3>Input</h3><Value value={item.input} /></div>
              <div><h3>Expected</h3><Value value={item.expected} empty="nothing expected" /></div>
              <div><h3>Metadata</h3><Value value={Object.keys(item.metadata).length ? item.metadata : null} empty="none" /></div>
            </div>
          </td>
        </tr>
      )}
    </>
  )
}

function preview(value: unknown, max = 120): string {
  if (value === null || value === undefined) return ''
  const text = typeof value === 'string' ? value : JSON.stringify(value)
  return text.length > max ? `${text.slice(0, max)}…` : text
}
