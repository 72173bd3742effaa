import { useEffect, useState } from 'react'
import { api } from '../../api/client'
import { APPROVALS_CHANGED } from '../runs/runs'

const REFRESH_MS = 5000

/** How many tool calls wait for a decision in the project (0 while it cannot be known, e.g. Temporal is down:
 * the nav stays quiet rather than showing an error on every page). */
export function usePendingApprovals(): number {
  const [pending, setPending] = useState(0)
  useEffect(() => {
    let controller = new AbortController()
    const load = () => {
      controller.abort()
      controller = new AbortController()
      api.GET('/api/agent-approvals', { signal: controller.signal }).then(
        ({ data }) => { if (data) setPending(data.approvals.length) },
        () => undefined,
      )
    }
    load()
    const timer = window.setInterval(load, REFRESH_MS)
    window.addEventListener(APPROVALS_CHANGED, load)
    return () => {
      window.clearInterval(timer)
      window.removeEventListener(APPROVALS_CHANGED, load)
      controller.abort()
    }
  }, [])
  return pending
}
