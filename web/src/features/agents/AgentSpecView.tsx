import { JsonTree } from '../../components/JsonView'
import type { SpecChange } from '../../api/client'
import { durationMs } from '../../lib/format'

type Spec = Record<string, unknown>
type Tool = { name: string; description?: string; parameters?: unknown; requires_approval?: boolean;
  timeout_seconds?: number; implementation?: Record<string, string> }
type Rule = { type: string; name?: string; action?: string; message?: string } & Record<string, unknown>

/** One version's spec as people read it: model, system prompt, tools with their schemas, guardrails, budgets. */
export function AgentSpecView({ spec }: { spec: Spec }) {
  const model = (spec.model ?? {}) as { provider?: string; name?: string; parameters?: Record<string, unknown> }
  const tools = (spec.tools ?? []) as Tool[]
  const guardrails = (spec.guardrails ?? {}) as Record<string, Rule[]>
  const budgets = (spec.budgets ?? {}) as Record<string, number | null>
  const variables = (spec.variables ?? {}) as Record<string, string>
  const parameters = Object.entries(model.parameters ?? {}).filter(([, v]) => v !== null && !(Array.isArray(v) && !v.length))
  return (
    <div className="agent-spec" aria-label="Agent spec">
      <dl className="facts inline">
        <div><dt>Model</dt><dd>{model.provider}:{model.name}</dd></div>
        {parameters.map(([k, v]) => <div key={k}><dt>{k}</dt><dd>{JSON.stringify(v)}</dd></div>)}
      </dl>
      <h3>System prompt</h3>
      <pre className="payload-text system-prompt">{String(spec.system_prompt ?? '')}</pre>
      {Object.keys(variables).length > 0 && (
        <p className="small">Variables: {Object.entries(variables).map(([k, v]) => (
          <span key={k} className="chip"><span className="chip-label">{k}</span> {v}</span>))}</p>
      )}
      <h3>Tools</h3>
      {tools.length === 0 && <p className="muted">No tools.</p>}
      <ul className="tool-specs">
        {tools.map((tool) => (
          <li key={tool.name} className="tool-spec" data-tool={tool.name}>
            <div className="approval-head">
              <span className="strong">{tool.name}</span>
              {tool.requires_approval && <span className="status status-attention">requires approval</span>}
              {tool.timeout_seconds !== undefined && <span className="muted small">timeout {durationMs(tool.timeout_seconds * 1000)}</span>}
              {tool.implementation?.python && <code className="small">{tool.implementation.python}</code>}
            </div>
            {tool.description && <div className="small">{tool.description}</div>}
            <details>
              <summary className="small">Parameters schema</summary>
              <JsonTree value={tool.parameters ?? {}} openTo={4} />
            </details>
          </li>
        ))}
      </ul>
      <h3>Guardrails</h3>
      {Object.values(guardrails).every((rules) => !rules?.length) && <p className="muted">None.</p>}
      {Object.entries(guardrails).filter(([, rules]) => rules?.length).map(([stage, rules]) => (
        <div key={stage} className="small guardrail-stage">
          <span className="step-label">{stage}</span>
          {rules.map((rule, i) => (
            <span key={i} className="chip" title={rule.message || undefined}>
              {rule.type}{rule.name ? ` “${rule.name}”` : ''}{rule.action ? ` → ${rule.action}` : ''}
            </span>
          ))}
        </div>
      ))}
      <h3>Budgets</h3>
      <dl className="facts inline">
        {Object.entries(budgets).map(([k, v]) => <div key={k}><dt>{k.replace(/_/g, ' ')}</dt><dd>{v ?? 'none'}</dd></div>)}
      </dl>
    </div>
  )
}

/** The changes between two versions, as the API gives them. */
export function SpecDiff({ changes }: { changes: SpecChange[] }) {
  if (!changes.length) return <p className="muted">No differences.</p>
  return (
    <table className="plain-table spec-diff" aria-label="Version diff">
      <thead><tr><th>Field</th><th>Change</th><th>Old</th><th>New</th></tr></thead>
      <tbody>
        {changes.map((c) => (
          <tr key={`${c.path}:${c.kind}`} className={`change-${c.kind}`}>
            <td><code>{c.path}</code></td>
            <td><span className={`status ${c.kind === 'removed' ? 'status-error' : c.kind === 'added' ? 'status-ok' : 'status-running'}`}>{c.kind}</span></td>
            <td><Value value={c.old} /></td>
            <td><Value value={c.new} /></td>
          </tr>
        ))}
      </tbody>
    </table>
  )
}

function Value({ value }: { value: unknown }) {
  if (value === null || value === undefined) return <span className="muted">–</span>
  if (typeof value === 'object') return <JsonTree value={value} />
  return <pre className="payload-text diff-value">{typeof value === 'string' ? value : JSON.stringify(value)}</pre>
}
