// What the agent-run screens share: statuses, the run's live event stream, approval decisions.
import { api, currentKey, errorOf, unwrap } from '../../api/client'
import { readEvents } from '../../api/live'

/** Statuses after which nothing more happens to a run. */
export const FINAL_STATUSES = ['completed', 'failed', 'cancelled', 'stopped']
export const RUN_STATUSES = ['running', 'waiting', 'awaiting_approval', 'paused', 'completed', 'failed', 'cancelled',
  'stopped']

export function isFinal(status: string): boolean {
  return FINAL_STATUSES.includes(status)
}

/** The badge class of a run or step status (styles.css: .status-*). */
export function statusClass(status: string): string {
  if (status === 'completed' || status === 'ok' || status === 'approved') return 'status-ok'
  if (status === 'failed' || status === 'error' || status === 'stopped' || status === 'rejected'
    || status === 'blocked') return 'status-error'
  if (status === 'awaiting_approval' || status === 'paused') return 'status-attention'
  if (status === 'running') return 'status-running'
  return '' // waiting, and anything else: the plain grey badge
}

export function statusLabel(status: string): string {
  return status.replace(/_/g, ' ')
}

/** One event of a run's stream (api/run_stream.py): `delta` carries streamed tokens of an LLM step. */
export type RunEvent = { type: string; step_key?: string; attempt?: number; text?: string; data?: Record<string, unknown>;
  count?: number }

/** Follow a run's events until the signal aborts, reconnecting after a dropped connection. Events are not
 * stored by the server: what was published before we listened is in the run's durable state instead. */
export async function followRun(runId: string, onEvent: (event: RunEvent) => void,
  onState: (state: 'connecting' | 'live' | 'retrying') => void, signal: AbortSignal) {
  while (!signal.aborted) {
    onState('connecting')
    try {
      const response = await fetch(`/api/agent-runs/${encodeURIComponent(runId)}/events`, {
        headers: { Authorization: `Bearer ${currentKey()}`, Accept: 'text/event-stream' }, signal,
      })
      if (!response.ok || !response.body) throw errorOf(response, await response.json().catch(() => undefined))
      onState('live')
      await readEvents(response.body, (type, data) => onEvent({ type, ...(data as object) } as RunEvent), signal)
    } catch {
      if (signal.aborted) return
      onState('retrying')
    }
    await new Promise((resolve) => setTimeout(resolve, 2000))
  }
}

/** Approve or reject a waiting call; tells the nav's pending count to refresh. */
export async function decide(runId: string, callId: string, approve: boolean, reason: string): Promise<void> {
  const params = { path: { run_id: runId, call_id: callId } }
  const body = { reason, by: '' } // by: the server records the API key's prefix
  await unwrap(approve
    ? api.POST('/api/agent-runs/{run_id}/approvals/{call_id}/approve', { params, body })
    : api.POST('/api/agent-runs/{run_id}/approvals/{call_id}/reject', { params, body }))
  window.dispatchEvent(new Event(APPROVALS_CHANGED))
}

/** Fired on window when an approval was decided here (the nav's count refreshes at once). */
export const APPROVALS_CHANGED = 'neon:approvals-changed'

/** Nanoseconds since the epoch → milliseconds. */
export function nsToMs(ns: number): number {
  return Math.floor(ns / 1e6)
}
