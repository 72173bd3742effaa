import { useState } from 'react'
import { Link, useSearchParams } from 'react-router'
import { api, unwrap, type Schemas } from '../../api/client'
import { ErrorBox, Spinner } from '../../components/Feedback'
import { JsonTree } from '../../components/JsonView'
import { cost, count, durationMs } from '../../lib/format'
import { useQuery } from '../../lib/useQuery'
import { statusClass, statusLabel } from '../runs/runs'
import { Conversation } from '../trace/SpanPanel'
import { toMessages } from '../trace/messages'

type RunDiff = Schemas['RunDiffOut']
type RunFacts = Schemas['RunFactsOut']
type Pair = Schemas['StepPairOut']
type Side = Schemas['StepSideOut']
type Delta = Schemas['DeltaOut']

const STATE_LABELS: Record<Pair['state'], string> = { same: 'same', changed: 'changed', only_a: 'only in A', only_b: 'only in B' }

/** Two agent runs side by side (`GET /api/agent-runs/diff`): spec changes, where they diverged and why, the
 * aligned steps, and token / cost / latency deltas (B − A). */
export function RunDiffPage() {
  const [params] = useSearchParams()
  const a = params.get('a') ?? ''
  const b = params.get('b') ?? ''
  const diff = useQuery(`agent-run-diff:${a}:${b}`, (signal) => unwrap(api.GET('/api/agent-runs/diff', {
    params: { query: { a, b } }, signal })))
  if (!a || !b) {
    return (
      <div className="page">
        <Link className="back" to="/runs">← Runs</Link>
        <h1>Compare runs</h1>
        <p className="muted">Pick two runs to compare: select two in the <Link to="/runs">runs list</Link>, or use
          “Compare with…” on a run's page.</p>
      </div>
    )
  }
  return (
    <div className="page run-diff-page">
      <Link className="back" to={`/runs/${b}`}>← Run B</Link>
      <h1>Compare runs</h1>
      {diff.error && <ErrorBox error={diff.error} what="the comparison" retry={diff.reload} />}
      {!diff.data && !diff.error && <Spinner />}
      {diff.data && <DiffView diff={diff.data} />}
    </div>
  )
}

function DiffView({ diff }: { diff: RunDiff }) {
  const at = diff.diverged_at
  return (
    <>
      <div className="diff-heads">
        <RunHead label="A" facts={diff.a} />
        <RunHead label="B" facts={diff.b} />
      </div>
      {at ? (
        <div className="diverged-banner" role="status">
          Diverged at step {at.a_index ?? at.b_index}: {at.reason}
        </div>
      ) : (
        <div className="diverged-banner same" role="status">
          {diff.identical ? 'The runs are the same: every step, the answer and the status.'
            : 'The steps are the same' + (diff.answer_changed ? '; the answers differ.' : '; the status differs.')}
        </div>
      )}
      <div className="diff-counts muted small">
        {(['same', 'changed', 'only_a', 'only_b'] as const).map((s) => (
          <span key={s} className={`pair-chip pair-${s}`}>{diff.counts[s] ?? 0} {STATE_LABELS[s]}</span>))}
        {diff.input_changed && <span className="pair-chip pair-changed">first message differs</span>}
        {diff.answer_changed && <span className="pair-chip pair-changed">answer differs</span>}
      </div>
      <h3>Spec changes (A → B)</h3>
      {diff.spec_changes.length === 0 ? <p className="muted">None: both ran the same spec.</p> : (
        <table className="plain-table spec-diff" aria-label="Spec changes">
          <thead><tr><th>Field</th><th>Change</th><th>A</th><th>B</th></tr></thead>
          <tbody>
            {diff.spec_changes.map((c) => (
              <tr key={c.path}><td><code>{c.path}</code></td><td>{c.kind}</td>
                <td><pre className="diff-value">{show(c.old)}</pre></td><td><pre className="diff-value">{show(c.new)}</pre></td></tr>
            ))}
          </tbody>
        </table>
      )}
      <h3>Steps</h3>
      <ol className="aligned-steps" aria-label="Aligned steps">
        {diff.steps.map((pair) => <PairRow key={pair.position} pair={pair} open={at?.position === pair.position} />)}
      </ol>
      <div className="diff-total" aria-label="Total deltas">
        <span className="strong">Total (B − A)</span> <DeltaText delta={diff.delta} />
      </div>
    </>
  )
}

function RunHead({ label, facts }: { label: string; facts: RunFacts }) {
  const t = facts.totals
  return (
    <div className="diff-head card" aria-label={`Run ${label}`}>
      <div className="diff-head-title">
        <span className="side-label">{label}</span>
        <Link to={`/runs/${facts.run_id}`}><code>{facts.run_id}</code></Link>
        {facts.status && <span className={`status ${statusClass(facts.status)}`}>{statusLabel(facts.status)}</span>}
      </div>
      <div className="muted small">{facts.agent ?? '–'}{facts.version && <> <span className="version">{facts.version}</span></>}
        {facts.fork && <> · fork of <code>{String(facts.fork.parent_run_id)}</code> at step {String(facts.fork.at_step)}</>}</div>
      {facts.input && <div className="small"><span className="step-label">Input</span>{facts.input}</div>}
      {facts.answer && <div className="small"><span className="step-label">Answer</span>{facts.answer}</div>}
      <div className="small muted">{t.steps} steps · {count(t.input_tokens)} in / {count(t.output_tokens)} out tokens ·{' '}
        {cost(t.cost_usd)}{t.unpriced_steps ? '+' : ''} · {durationMs(t.latency_ms)} in steps</div>
    </div>
  )
}

function PairRow({ pair, open }: { pair: Pair; open: boolean }) {
  const [shown, setShown] = useState(open)
  const hasContent = !!(pair.a?.content || pair.b?.content)
  return (
    <li className={`pair pair-${pair.state}`} data-state={pair.state} aria-label={`Position ${pair.position} ${STATE_LABELS[pair.state]}`}>
      <div className="pair-row">
        <SideCell side={pair.a} />
        <div className="pair-state">
          <span className={`pair-chip pair-${pair.state}`}>{STATE_LABELS[pair.state]}</span>
          {pair.changes.length > 0 && <div className="muted small">{pair.changes.join(', ')}</div>}
          {pair.delta && !(pair.state === 'same' && unchanged(pair.delta)) && <div className="small"><DeltaText delta={pair.delta} /></div>}
          {pair.state !== 'same' && hasContent && (
            <button className="link small" onClick={() => setShown(!shown)}>{shown ? 'Hide' : 'Prompts and outputs'}</button>)}
        </div>
        <SideCell side={pair.b} />
      </div>
      {shown && (
        <div className="pair-content" aria-label="Prompts and outputs side by side">
          <ContentCell side={pair.a} />
          <ContentCell side={pair.b} />
        </div>
      )}
    </li>
  )
}

function SideCell({ side }: { side: Side | null }) {
  if (!side) return <div className="pair-side empty muted small">—</div>
  return (
    <div className="pair-side">
      <div className="step-head">
        <span className="step-key">{side.key}</span>
        <span className="step-kind">{side.kind}</span>
        <span className="strong">{side.name}</span>
        <span className={`status ${statusClass(side.status)}`}>{statusLabel(side.status)}</span>
      </div>
      {side.summary && <div className="small pair-summary">{side.summary}</div>}
      {side.error && <pre className="step-error">{side.error}</pre>}
      <div className="muted small">
        {(side.input_tokens > 0 || side.output_tokens > 0) && <>{count(side.input_tokens)} in / {count(side.output_tokens)} out · </>}
        {side.cost_usd !== null && <>{cost(side.cost_usd)} · </>}
        {side.latency_ms !== null && durationMs(side.latency_ms)}
      </div>
    </div>
  )
}

function ContentCell({ side }: { side: Side | null }) {
  const c = side?.content
  if (!c) return <div className="pair-side empty muted small">{side ? 'no content recorded' : '—'}</div>
  return (
    <div className="pair-side content">
      {c.system_prompt !== null && (<><div className="step-label">System prompt</div>
        <pre className="system-prompt">{c.system_prompt}</pre></>)}
      {c.messages && (<><div className="step-label">Messages sent</div>
        <Conversation messages={toMessages(JSON.stringify(c.messages), 'user') ?? []} /></>)}
      {c.text !== null && (<><div className="step-label">Reply</div><div className="reply-text">{c.text || '(no text)'}</div></>)}
      {c.tool_calls && c.tool_calls.length > 0 && (<><div className="step-label">Tool calls</div><JsonTree value={c.tool_calls} /></>)}
      {c.arguments && (<><div className="step-label">Arguments</div><JsonTree value={c.arguments} /></>)}
      {c.result !== null && c.result !== undefined && (<><div className="step-label">Result</div><JsonTree value={c.result} /></>)}
    </div>
  )
}

/** B − A: tokens, cost and latency, each signed (±0 when equal; n/a when a side has no price or no times). */
function DeltaText({ delta }: { delta: Delta }) {
  const sign = (n: number, text: string) => (n > 0 ? `+${text}` : n < 0 ? `−${text}` : '±0')
  return (
    <span className="delta">
      <span>{sign(delta.input_tokens, count(Math.abs(delta.input_tokens)))} in, {sign(delta.output_tokens, count(Math.abs(delta.output_tokens)))} out tokens</span>
      <span>{delta.cost_usd === null ? 'cost n/a' : `${sign(delta.cost_usd, cost(Math.abs(delta.cost_usd)))} cost`}</span>
      <span>{delta.latency_ms === null ? 'latency n/a' : `${sign(delta.latency_ms, durationMs(Math.abs(delta.latency_ms)))} latency`}</span>
    </span>
  )
}

/** Nothing moved: the same step at the same price and speed (its deltas would only be noise). */
function unchanged(delta: Delta): boolean {
  return !delta.input_tokens && !delta.output_tokens && !delta.cost_usd && !delta.latency_ms
}

function show(value: unknown): string {
  if (value === undefined || value === null) return '–'
  return typeof value === 'string' ? value : JSON.stringify(value, null, 2)
}
