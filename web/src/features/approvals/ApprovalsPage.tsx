import { useEffect } from 'react'
import { Link } from 'react-router'
import { api, unwrap, type PendingApproval } from '../../api/client'
import { JsonTree } from '../../components/JsonView'
import { Empty, ErrorBox, Spinner } from '../../components/Feedback'
import { ago, fullTime } from '../../lib/format'
import { useQuery } from '../../lib/useQuery'
import { nsToMs } from '../runs/runs'
import { ApprovalDecision } from './ApprovalDecision'

const REFRESH_MS = 3000

/** Every tool call waiting for a person's decision in the project, oldest first. */
export function ApprovalsPage() {
  const approvals = useQuery('agent-approvals', (signal) => unwrap(api.GET('/api/agent-approvals', { signal })))
  const reload = approvals.reload
  useEffect(() => {
    const timer = window.setInterval(reload, REFRESH_MS)
    return () => window.clearInterval(timer)
  }, [reload])
  const list = approvals.data?.approvals ?? []
  return (
    <div className="page approvals-page">
      <div className="page-head"><h1>Approvals</h1></div>
      {approvals.error && <ErrorBox error={approvals.error} what="approvals" retry={approvals.reload} />}
      {approvals.loading && !approvals.data && <Spinner />}
      {approvals.data && list.length === 0 && (
        <Empty title="Nothing waits for a decision">
          <p>A tool with <code>requires_approval: true</code> in its agent's spec waits here before it runs.</p>
        </Empty>
      )}
      <ul className="approval-list" aria-label="Waiting approvals">
        {list.map((a) => <PendingRow key={`${a.run_id}/${a.call_id}`} approval={a} onDecided={approvals.reload} />)}
      </ul>
    </div>
  )
}

function PendingRow({ approval, onDecided }: { approval: PendingApproval; onDecided: () => void }) {
  const requested = nsToMs(approval.requested_ns)
  const deadline = nsToMs(approval.deadline_ns)
  return (
    <li className="approval-card" data-run-id={approval.run_id} aria-label={`${approval.tool} in ${approval.run_id}`}>
      <div className="approval-head">
        <span className="strong tool-name">{approval.tool}</span>
        <Link to={`/agents/${encodeURIComponent(approval.agent)}`}>{approval.agent}</Link>
        <span className="version">{approval.version}</span>
        <Link to={`/runs/${approval.run_id}`}><code>{approval.run_id}</code></Link>
        <span className="muted small" title={fullTime(requested)}>requested {ago(new Date(requested).toISOString())}</span>
        <span className="muted small" title={fullTime(deadline)}>deadline {fullTime(deadline)}</span>
      </div>
      {approval.reason && <div className="approval-reason"><span className="step-label">The model said</span> {approval.reason}</div>}
      <div className="step-label">Arguments</div>
      <JsonTree value={approval.arguments} />
      <ApprovalDecision runId={approval.run_id} callId={approval.call_id} tool={approval.tool} onDecided={onDecided} />
    </li>
  )
}
