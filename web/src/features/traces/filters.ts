// The trace list's filters, as they live in the URL (so a view can be shared) and as the API takes them.
import type { paths } from '../../api/schema'
import { windowOf } from '../../components/TimeRange'

export type TraceQuery = NonNullable<paths['/api/traces']['get']['parameters']['query']>

export type FilterField = {
  key: keyof TraceQuery
  label: string
  kind: 'text' | 'number' | 'list'
  hint?: string
  live?: boolean // the live stream can apply it too
}

/** Filters offered by "Add filter" (status, time and text search have their own controls). */
export const FIELDS: FilterField[] = [
  { key: 'name', label: 'Name is', kind: 'text', live: true },
  { key: 'name_contains', label: 'Name contains', kind: 'text', live: true },
  { key: 'service', label: 'Service', kind: 'text', live: true },
  { key: 'session_id', label: 'Session', kind: 'text', live: true },
  { key: 'user_id', label: 'User', kind: 'text', live: true },
  { key: 'agent_id', label: 'Agent', kind: 'text', live: true },
  { key: 'agent_version', label: 'Agent version', kind: 'text', live: true },
  { key: 'environment', label: 'Environment', kind: 'text', live: true },
  { key: 'model', label: 'Model', kind: 'text' },
  { key: 'tool', label: 'Tool', kind: 'text' },
  { key: 'tag', label: 'Tag', kind: 'list' },
  { key: 'attr', label: 'Attribute', kind: 'list', hint: 'key=value' },
  { key: 'min_duration_ms', label: 'Duration ≥ (ms)', kind: 'number' },
  { key: 'min_tokens', label: 'Tokens ≥', kind: 'number' },
  { key: 'max_tokens', label: 'Tokens ≤', kind: 'number' },
  { key: 'min_cost', label: 'Cost ≥ ($)', kind: 'number' },
  { key: 'max_cost', label: 'Cost ≤ ($)', kind: 'number' },
  { key: 'score_name', label: 'Has score', kind: 'text' },
  { key: 'score_min', label: 'Score ≥', kind: 'number' },
  { key: 'score_max', label: 'Score ≤', kind: 'number' },
]

export const FIELD_BY_KEY = new Map(FIELDS.map((f) => [f.key as string, f]))

/** The API query for the URL's filters, over the window [from, to]. */
export function toQuery(params: URLSearchParams, now: number): TraceQuery {
  const { from, to } = windowOf(params, now)
  const query: Record<string, unknown> = { from, to, limit: 100 }
  for (const key of ['status', 'search', 'sort', 'order']) {
    const value = params.get(key)
    if (value) query[key] = value
  }
  for (const field of FIELDS) {
    const values = params.getAll(field.key)
    if (!values.length) continue
    if (field.kind === 'list') query[field.key] = values
    else if (field.kind === 'number') query[field.key] = Number(values[0])
    else query[field.key] = values[0]
  }
  return query as TraceQuery
}

/** The part of the filters the live stream understands (the rest apply when the list reloads). */
export function toLiveParams(params: URLSearchParams): URLSearchParams {
  const live = new URLSearchParams()
  const status = params.get('status')
  if (status) live.set('status', status)
  for (const field of FIELDS) {
    const value = params.get(field.key)
    if (field.live && value) live.set(field.key, value)
  }
  return live
}

/** Filters set on the list that the live stream cannot apply. */
export function notLive(params: URLSearchParams): string[] {
  const names = FIELDS.filter((f) => !f.live && params.has(f.key)).map((f) => f.label)
  if (params.get('search')) names.push('Search')
  return names
}

export function activeChips(params: URLSearchParams): { key: string; value: string; label: string }[] {
  const chips: { key: string; value: string; label: string }[] = []
  for (const field of FIELDS) {
    for (const value of params.getAll(field.key)) chips.push({ key: field.key, value, label: field.label })
  }
  return chips
}
