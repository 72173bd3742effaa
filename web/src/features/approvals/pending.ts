import { useEffect, useState } from 'react'
import { api } from '../../api/client'
import { APPROVALS_CHANGED } from '../runs/runs'

// Asked again this often; much less often while the server cannot answer (e.g. no Temporal reachable), so the
// nav does not fill the server's log.
const REFRESH_MS = 5000
const REFRESH_FAILING_MS = 60_000

/** How many tool calls wait for a decision in the project (0 while it cannot be known: the nav stays quiet
 * rather than showing an error on every page). */
export function usePendingApprovals(): number {
  const [pending, setPending] = useState(0)
  useEffect(() => {
    let controller = new AbortController()
    let timer = 0
    const load = () => {
      controller.abort()
      window.clearTimeout(timer)
      controller = new AbortController()
      const signal = controller.signal
      api.GET('/api/agent-approvals', { signal }).then(
        ({ data }) => {
          if (data) setPending(data.approvals.length)
          else setPending(0)
          timer = window.setTimeout(load, data ? REFRESH_MS : REFRESH_FAILING_MS)
        },
        () => { if (!signal.aborted) timer = window.setTimeout(load, REFRESH_FAILING_MS) },
      )
    }
    load()
    window.addEventListener(APPROVALS_CHANGED, load)
    return () => {
      window.clearTimeout(timer)
      window.removeEventListener(APPROVALS_CHANGED, load)
      controller.abort()
    }
  }, [])
  return pending
}
