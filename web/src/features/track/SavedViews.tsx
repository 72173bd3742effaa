import { useCallback, useEffect, useState } from 'react'
import { api, ApiError, unwrap, type Schemas } from '../../api/client'

export type SavedView = Schemas['ViewOut']
export type ViewState = Schemas['ViewState']

/** "Views": the project's saved views of the runs table — apply one, save the table as it is now under a name,
 * update a view to the current state, or delete it. */
export function SavedViews({ state, applied, onApply }: {
  state: ViewState
  /** the id of the view the address records as applied */
  applied: string | null
  onApply: (view: SavedView) => void
}) {
  const [open, setOpen] = useState(false)
  const [views, setViews] = useState<SavedView[]>([])
  const [name, setName] = useState('')
  const [error, setError] = useState<string | null>(null)

  const reload = useCallback(async () => {
    try {
      setViews((await unwrap(api.GET('/api/track/views'))).views)
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err))
    }
  }, [])
  useEffect(() => void reload(), [reload])

  const act = async (what: () => Promise<unknown>) => {
    try {
      await what()
      setError(null)
      await reload()
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err))
    }
  }
  const save = () => act(async () => {
    const made = await unwrap(api.POST('/api/track/views', { body: { name: name.trim(), state } }))
    setName('')
    onApply(made)
  })
  const current = views.find((v) => v.id === applied) ?? null
  const modified = current !== null && !sameState(current.state, state)

  return (
    <div className="popover-wrap saved-views">
      <button onClick={() => setOpen(!open)} aria-expanded={open} data-testid="views-button">
        {current ? <>View: <b>{current.name}</b>{modified && <span className="muted"> (changed)</span>}</> : 'Views'} ▾
      </button>
      {open && (
        <div className="popover" role="dialog" aria-label="Saved views">
          {views.length === 0 && <p className="muted small">No saved views yet: save the table as it is now.</p>}
          <ul className="picker-list views-list">
            {views.map((v) => (
              <li key={v.id} data-view={v.name} className={v.id === applied ? 'applied' : ''}>
                <button className="link inline" onClick={() => { onApply(v); setOpen(false) }}
                  aria-label={`Apply view ${v.name}`} title={describe(v.state)}>{v.name}</button>
                <span className="view-actions">
                  <button className="link small" aria-label={`Update view ${v.name}`}
                    title="Save the table as it is now into this view"
                    onClick={() => void act(async () => {
                      const updated = await unwrap(api.PATCH('/api/track/views/{view_id}', {
                        params: { path: { view_id: v.id } }, body: { state } }))
                      onApply(updated)
                    })}>Update</button>
                  <button className="link small danger" aria-label={`Delete view ${v.name}`}
                    onClick={() => void act(() => unwrap(api.DELETE('/api/track/views/{view_id}', {
                      params: { path: { view_id: v.id } } })))}>Delete</button>
                </span>
              </li>
            ))}
          </ul>
          <form className="save-view" onSubmit={(e) => { e.preventDefault(); if (name.trim()) void save() }}>
            <input value={name} onChange={(e) => setName(e.target.value)} placeholder="Name this view"
              aria-label="View name" maxLength={200} />
            <button type="submit" disabled={!name.trim()}>Save view</button>
          </form>
          {error && <div className="nql-error small" role="alert">{error}</div>}
        </div>
      )}
    </div>
  )
}

function describe(state: ViewState): string {
  const parts = [state.query ? `query: ${state.query}` : 'all runs']
  if (state.columns?.length) parts.push(`${state.columns.length} columns`)
  if (state.sort?.length) parts.push(`sorted by ${state.sort[0].path}`)
  if (state.group_by?.length) parts.push(`grouped by ${state.group_by.join(', ')}`)
  return parts.join(' · ')
}

function normal(state: ViewState) {
  return JSON.stringify({
    q: state.query || null,
    c: (state.columns ?? []).map((c) => [c.path, c.aggregate ?? null]),
    s: (state.sort ?? []).map((s) => [s.path, s.aggregate ?? null, s.direction ?? 'asc']),
    g: state.group_by ?? [],
  })
}

export function sameState(a: ViewState, b: ViewState): boolean {
  return normal(a) === normal(b)
}
