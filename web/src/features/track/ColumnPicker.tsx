import { useEffect, useState } from 'react'
import { api, ApiError, unwrap } from '../../api/client'
import { SERIES_TYPES, type AttributeName, type TableColumn } from './runs'

/** The project's attribute names that a regex finds (the server searches with RE2), a short wait after typing. */
function useAttributeSearch(regex: string, enabled: boolean, limit = 50) {
  const [found, setFound] = useState<AttributeName[]>([])
  const [more, setMore] = useState(false)
  const [error, setError] = useState<string | null>(null)
  useEffect(() => {
    if (!enabled) return
    const controller = new AbortController()
    const timer = window.setTimeout(() => {
      unwrap(api.GET('/api/track/attributes', { params: { query: { regex, limit } }, signal: controller.signal }))
        .then((answer) => {
          setFound(answer.attributes)
          setMore(answer.next_cursor !== null)
          setError(null)
        }, (err: unknown) => {
          if (!controller.signal.aborted) setError(err instanceof ApiError ? err.message : String(err))
        })
    }, 150)
    return () => {
      controller.abort()
      window.clearTimeout(timer)
    }
  }, [regex, enabled, limit])
  return { found, more, error }
}

function asColumn(a: AttributeName): TableColumn {
  const type = a.types[0]?.type ?? ''
  if (type === 'floatSeries') return { path: a.path, aggregate: 'last' }
  if (SERIES_TYPES.has(type)) return { path: a.path, aggregate: 'count' }
  return { path: a.path }
}

/** "Columns": find attributes by regex and add one, or every match. */
export function ColumnPicker({ columns, onAdd }: { columns: TableColumn[]; onAdd: (added: TableColumn[]) => void }) {
  const [open, setOpen] = useState(false)
  const [regex, setRegex] = useState('')
  const { found, more, error } = useAttributeSearch(regex, open)
  const shown = new Set(columns.map((c) => c.path))
  const fresh = found.filter((a) => !shown.has(a.path))
  return (
    <div className="popover-wrap">
      <button onClick={() => setOpen(!open)} aria-expanded={open}>+ Columns</button>
      {open && (
        <div className="popover column-picker" role="dialog" aria-label="Add columns">
          <input autoFocus value={regex} onChange={(e) => setRegex(e.target.value)} aria-label="Attribute regex"
            placeholder="regex, e.g. ^val/|loss$" spellCheck={false} />
          {error && <div className="nql-error small">{error}</div>}
          <ul className="picker-list">
            {found.map((a) => (
              <li key={a.path}>
                <button className="link inline" disabled={shown.has(a.path)} onClick={() => onAdd([asColumn(a)])}
                  aria-label={`Add column ${a.path}`}>{a.path}</button>
                <span className="muted small">{a.types.map((t) => t.type).join(', ')} · {a.runs} runs</span>
              </li>
            ))}
            {!found.length && !error && <li className="muted small">No attribute matches.</li>}
          </ul>
          <div className="form-actions">
            <button className="primary" disabled={!fresh.length} onClick={() => {
              onAdd(fresh.map(asColumn))
              setOpen(false)
            }}>Add {fresh.length} {fresh.length === 1 ? 'match' : 'matches'}{more ? ' (first 50)' : ''}</button>
            <button onClick={() => setOpen(false)}>Close</button>
          </div>
        </div>
      )}
    </div>
  )
}

/** "Group by": up to four attribute paths, nested in the order chosen. */
export function GroupPicker({ value, onChange }: { value: string[]; onChange: (paths: string[]) => void }) {
  const [adding, setAdding] = useState(false)
  const { found } = useAttributeSearch('', adding, 1000)
  const candidates = found.filter((a) => a.types.some((t) => !SERIES_TYPES.has(t.type)) && !value.includes(a.path))
  return (
    <div className="chips group-picker">
      <span className="small muted">Group by</span>
      {value.map((path) => (
        <span key={path} className="chip">
          {path}
          <button aria-label={`Stop grouping by ${path}`} onClick={() => onChange(value.filter((p) => p !== path))}>×</button>
        </span>
      ))}
      {value.length < 4 && (adding ? (
        <select autoFocus aria-label="Group by attribute" value="" onBlur={() => setAdding(false)} onChange={(e) => {
          if (e.target.value) onChange([...value, e.target.value])
          setAdding(false)
        }}>
          <option value="">choose an attribute…</option>
          {candidates.map((a) => <option key={a.path} value={a.path}>{a.path}</option>)}
        </select>
      ) : <button className="link" onClick={() => setAdding(true)}>{value.length ? '+ level' : '+ attribute'}</button>)}
    </div>
  )
}
