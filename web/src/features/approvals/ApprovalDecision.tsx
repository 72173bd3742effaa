import { useState } from 'react'
import { decide } from '../runs/runs'

/** Approve / Reject a waiting tool call, with the reason recorded in the run and its trace. */
export function ApprovalDecision({ runId, callId, tool, onDecided }: {
  runId: string
  callId: string
  tool: string
  onDecided: () => void
}) {
  const [reason, setReason] = useState('')
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState('')
  const act = async (approve: boolean) => {
    setBusy(true)
    setError('')
    try {
      await decide(runId, callId, approve, reason.trim())
      onDecided()
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err))
    } finally {
      setBusy(false)
    }
  }
  return (
    <div className="approval-decision">
      <input aria-label={`Reason for ${tool}`} placeholder="Reason (recorded with the decision)" value={reason}
        onChange={(e) => setReason(e.target.value)} disabled={busy} />
      <button className="primary" disabled={busy} onClick={() => void act(true)}>Approve</button>
      <button className="danger" disabled={busy} onClick={() => void act(false)}>Reject</button>
      {error && <div className="error-box" role="alert">Could not record the decision: {error}</div>}
    </div>
  )
}
