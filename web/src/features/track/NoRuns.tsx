import { Link } from 'react-router'
import { Empty } from '../../components/Feedback'

/** A Track page opened without the runs it needs: says which to pick, and where. */
export function NoRuns({ title, action }: { title: string; action: string }) {
  return (
    <div className="page">
      <Link className="back" to="/track">← Runs</Link>
      <Empty title={title}>
        <p>Tick the runs in the <Link to="/track">runs table</Link>, then press <b>{action}</b>.</p>
      </Empty>
    </div>
  )
}
