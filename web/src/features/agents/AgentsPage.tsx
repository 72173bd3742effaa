import { Link } from 'react-router'
import { api, unwrap } from '../../api/client'
import { Empty, ErrorBox, Spinner } from '../../components/Feedback'
import { ago, fullTime } from '../../lib/format'
import { useQuery } from '../../lib/useQuery'

/** The project's agents: each one's latest version and how many versions were recorded. */
export function AgentsPage() {
  const agents = useQuery('agents', (signal) => unwrap(api.GET('/api/agents', { signal })))
  const list = agents.data?.agents ?? []
  return (
    <div className="page agents-page">
      <div className="page-head"><h1>Agents</h1><Link to="/runs">All runs →</Link></div>
      {agents.error && <ErrorBox error={agents.error} what="agents" retry={agents.reload} />}
      {agents.loading && !agents.data && <Spinner />}
      {agents.data && list.length === 0 && (
        <Empty title="No agents yet">
          <p>An agent appears here when its spec is recorded: by its first run (<code>neon agent run &lt;name&gt;</code>)
            or with <code>POST /api/agents</code>. docs/agents.md describes the spec.</p>
        </Empty>
      )}
      {list.length > 0 && (
        <div className="table-scroll">
          <table className="plain-table" aria-label="Agents">
            <thead>
              <tr><th>Agent</th><th>Latest version</th><th className="num">Versions</th><th>Model</th><th>Tools</th>
                <th>Updated</th></tr>
            </thead>
            <tbody>
              {list.map((agent) => (
                <tr key={agent.name} data-agent={agent.name}>
                  <td><Link className="strong" to={`/agents/${encodeURIComponent(agent.name)}`}>{agent.name}</Link>
                    {agent.description && <span className="sub">{agent.description}</span>}</td>
                  <td><span className="version">{agent.latest_version}</span></td>
                  <td className="num">{agent.version_count}</td>
                  <td>{agent.model}</td>
                  <td className="small">{agent.tools.join(', ') || <span className="muted">none</span>}</td>
                  <td title={fullTime(agent.updated_at)}>{ago(agent.updated_at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  )
}
