import { useState } from 'react'
import { TimeRangePicker } from '../../components/TimeRange'
import { FIELDS, FIELD_BY_KEY, activeChips } from './filters'

/** Search, time, status and any other filter of the query API, kept in the URL. */
export function FilterBar({ params, onChange }: {
  params: URLSearchParams
  onChange: (next: URLSearchParams) => void
}) {
  const [search, setSearch] = useState(params.get('search') ?? '')
  const [field, setField] = useState<string>(FIELDS[0].key)
  const [value, setValue] = useState('')
  const [adding, setAdding] = useState(false)
  const chosen = FIELD_BY_KEY.get(field)

  const update = (mutate: (next: URLSearchParams) => void) => {
    const next = new URLSearchParams(params)
    mutate(next)
    onChange(next)
  }
  const add = () => {
    const text = value.trim()
    if (!text) return
    update((next) => (chosen?.kind === 'list' ? next.append(field, text) : next.set(field, text)))
    setValue('')
    setAdding(false)
  }
  const chips = activeChips(params)

  return (
    <div className="filter-bar">
      <div className="filter-row">
        <form
          className="search"
          role="search"
          onSubmit={(e) => {
            e.preventDefault()
            update((next) => (search.trim() ? next.set('search', search.trim()) : next.delete('search')))
          }}
        >
          <input
            type="search"
            aria-label="Search inputs and outputs"
            placeholder="Search inputs and outputs…"
            value={search}
            onChange={(e) => setSearch(e.target.value)}
          />
        </form>
        <TimeRangePicker params={params} onChange={onChange} />
        <label className="field">
          <span>Status</span>
          <select
            aria-label="Status"
            value={params.get('status') ?? ''}
            onChange={(e) => update((next) => (e.target.value ? next.set('status', e.target.value) : next.delete('status')))}
          >
            <option value="">Any</option>
            <option value="error">Error</option>
            <option value="ok">OK</option>
            <option value="unset">Unset</option>
          </select>
        </label>
        <button className="secondary" onClick={() => setAdding(!adding)} aria-expanded={adding}>+ Filter</button>
      </div>
      {adding && (
        <form
          className="filter-row add-filter"
          onSubmit={(e) => {
            e.preventDefault()
            add()
          }}
        >
          <select aria-label="Filter field" value={field} onChange={(e) => setField(e.target.value)}>
            {FIELDS.map((f) => <option key={f.key} value={f.key}>{f.label}</option>)}
          </select>
          <input
            aria-label="Filter value"
            autoFocus
            type={chosen?.kind === 'number' ? 'number' : 'text'}
            step="any"
            min={chosen?.kind === 'number' ? 0 : undefined}
            placeholder={chosen?.hint ?? 'value'}
            value={value}
            onChange={(e) => setValue(e.target.value)}
          />
          <button type="submit">Add</button>
          <button type="button" className="link" onClick={() => setAdding(false)}>Cancel</button>
        </form>
      )}
      {(chips.length > 0 || params.get('search')) && (
        <div className="chips">
          {params.get('search') && (
            <Chip label="Search" value={params.get('search') ?? ''} onRemove={() => {
              setSearch('')
              update((next) => next.delete('search'))
            }} />
          )}
          {chips.map((chip) => (
            <Chip
              key={`${chip.key}=${chip.value}`}
              label={chip.label}
              value={chip.value}
              onRemove={() => update((next) => next.delete(chip.key, chip.value))}
            />
          ))}
          <button className="link" onClick={() => {
            setSearch('')
            update((next) => {
              for (const key of [...next.keys()]) if (key !== 'range' && key !== 'from' && key !== 'to') next.delete(key)
            })
          }}>Clear all</button>
        </div>
      )}
    </div>
  )
}

function Chip({ label, value, onRemove }: { label: string; value: string; onRemove: () => void }) {
  return (
    <span className="chip">
      <span className="chip-label">{label}</span> {value}
      <button aria-label={`Remove filter ${label} ${value}`} onClick={onRemove}>×</button>
    </span>
  )
}
