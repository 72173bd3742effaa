// Attribute and series-aggregate values of the runs in view, as the runs table reads them (POST /api/track/table).
import { useQuery } from '../../../lib/useQuery'
import { api, unwrap } from '../../../api/client'
import { FLOAT_AGGREGATES, toNumber, type TableColumn } from '../runs'
import type { RunsInView, ValueRef } from './spec'

export type RunValues = { runId: string; name: string; values: unknown[] }

/** Every run of the view: its runs, then the runs of its groups, once each. */
export function allRuns(runs: RunsInView): string[] {
  return [...new Set([...runs.runIds, ...runs.groups.flatMap((g) => g.runs)])]
}

/** A value reference as the table's column: an attribute, or a float series' aggregate. */
export function columnOf(ref: ValueRef): TableColumn {
  if (!ref.aggregate) return { path: ref.path }
  const aggregate = ref.aggregate as TableColumn['aggregate']
  return { path: ref.path, aggregate, type: FLOAT_AGGREGATES.includes(ref.aggregate as never) ? 'floatSeries' : undefined }
}

/** How a reference reads in a header: `path` or `aggregate(path)`. */
export const refText = (ref: ValueRef): string => (ref.aggregate ? `${ref.aggregate}(${ref.path})` : ref.path)

const quoted = (text: string) => `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`

/** The values of `refs` for each run of the view, in the view's order (a run the project lacks is left out). */
export function useRunValues(runs: RunsInView, refs: ValueRef[]) {
  const ids = allRuns(runs).slice(0, 1000)
  const usable = refs.filter((r) => r.path)
  const key = `block-values:${JSON.stringify([ids, usable])}`
  return useQuery(key, async (signal): Promise<RunValues[]> => {
    if (!ids.length || !usable.length) return []
    const answer = await unwrap(api.POST('/api/track/table', {
      body: {
        query: ids.map((id) => `\`sys/custom_run_id\`:string == ${quoted(id)}`).join(' OR '),
        columns: usable.map(columnOf), limit: Math.max(1, ids.length), sort: [], group_by: [], group_limit: 100,
      }, signal,
    }))
    const byId = new Map(answer.rows.map((row) => [row.run_id, row]))
    return ids.flatMap((id) => {
      const row = byId.get(id)
      return row ? [{ runId: id, name: row.name, values: row.values }] : []
    })
  })
}

/** A table value as a finite number, or null. */
export function numeric(value: unknown): number | null {
  if (typeof value === 'boolean') return value ? 1 : 0
  const n = toNumber(value)
  return n !== null && Number.isFinite(n) ? n : null
}
