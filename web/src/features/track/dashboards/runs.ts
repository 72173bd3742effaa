// Which runs a dashboard shows, and the metric names they have (for dynamic sections).
import { useEffect, useState } from 'react'
import { api, unwrap } from '../../../api/client'

/** At most this many runs are asked for their metric names (one run-detail request each). */
const MAX_NAMED_RUNS = 50

/** The float series paths of these runs, sorted; `refresh` (any changing value) asks again. */
export function useMetricNames(runIds: string[], refresh: number): { names: string[]; loading: boolean } {
  const [names, setNames] = useState<string[]>([])
  const [loading, setLoading] = useState(false)
  const key = JSON.stringify(runIds.slice(0, MAX_NAMED_RUNS))
  useEffect(() => {
    const ids = JSON.parse(key) as string[]
    const controller = new AbortController()
    setLoading(true)
    Promise.all(ids.map((run_id) => unwrap(api.GET('/api/track/runs/{run_id}', {
      params: { path: { run_id } }, signal: controller.signal,
    })).catch(() => null))).then((runs) => {
      const found = new Set<string>()
      for (const run of runs) {
        for (const [path, s] of Object.entries((run?.series ?? {}) as Record<string, { type: string }>)) {
          if (s.type === 'floatSeries') found.add(path)
        }
      }
      setNames((old) => {
        const next = [...found].sort()
        return JSON.stringify(old) === JSON.stringify(next) ? old : next
      })
      setLoading(false)
    }, () => setLoading(false))
    return () => controller.abort()
  }, [key, refresh])
  return { names, loading }
}

/** The runs an NQL query finds (up to `limit`, oldest first as the API lists them). */
export function useQueryRuns(query: string | null, limit = 100): { runIds: string[]; error: string | null } {
  const [runIds, setRunIds] = useState<string[]>([])
  const [error, setError] = useState<string | null>(null)
  useEffect(() => {
    if (query === null) return
    const controller = new AbortController()
    unwrap(api.GET('/api/track/runs', { params: { query: { query: query || undefined } }, signal: controller.signal }))
      .then((answer) => {
        setRunIds(answer.runs.slice(-limit).map((r) => r.run_id))
        setError(null)
      }, (err: unknown) => {
        if (!controller.signal.aborted) setError(err instanceof Error ? err.message : String(err))
      })
    return () => controller.abort()
  }, [query, limit])
  return { runIds, error }
}
