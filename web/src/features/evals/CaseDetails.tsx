import { useEffect, useRef } from 'react'
import { Link } from 'react-router'
import type { CaseResult, CaseScore } from '../../api/client'
import { JsonTree } from '../../components/JsonView'
import { durationMs } from '../../lib/format'
import { cellLook, outcomeOf, scoreText } from './scores'

/** A case of a run: scores with their reasons and evidence, what went in, what was expected, what came out. */
export function CaseDetails({ result, focus, onClose }: { result: CaseResult; focus: string | null; onClose: () => void }) {
  const outcome = outcomeOf(result)
  return (
    <aside className="span-panel case-panel" aria-label={`Case ${result.case_id}`}>
      <div className="panel-head">
        <div>
          <span className={`outcome outcome-badge-${outcome}`}>{outcome}</span>
          <h2>{result.case_id}</h2>
        </div>
        <button className="link" onClick={onClose} aria-label="Close case">✕</button>
      </div>
      <dl className="facts inline">
        <div><dt>Duration</dt><dd>{durationMs(result.duration_ms)}</dd></div>
        <div><dt>Trace</dt><dd>{result.trace_id
          ? <Link to={`/traces/${result.trace_id}`}>open the case's trace →</Link>
          : <span className="muted">not traced</span>}</dd></div>
        {result.tools && <div><dt>Tools called</dt><dd>{result.tools.length ? result.tools.join(' → ') : 'none'}</dd></div>}
      </dl>
      {result.error && (
        <div className="span-error">
          <h3>Agent error</h3>
          <pre>{result.error}</pre>
        </div>
      )}
      <h3>Scores</h3>
      {result.scores.length === 0 && <p className="muted">No scorer ran on this case.</p>}
      <ul className="score-list case-scores">
        {result.scores.map((s) => <ScoreItem key={s.name} score={s} focused={s.name === focus} />)}
      </ul>
      <h3>Input</h3>
      <Value value={result.input} />
      <h3>Expected</h3>
      <Value value={result.expected} empty="nothing expected" />
      <h3>Output</h3>
      <Value value={result.output} empty={result.error ? 'no output (the agent failed)' : 'empty'} />
    </aside>
  )
}

function ScoreItem({ score, focused }: { score: CaseScore; focused: boolean }) {
  const ref = useRef<HTMLLIElement>(null)
  useEffect(() => {
    if (focused) ref.current?.scrollIntoView({ block: 'nearest' })
  }, [focused])
  const look = cellLook(score)
  const hasEvidence = score.evidence !== null && score.evidence !== undefined
    && !(typeof score.evidence === 'object' && Object.keys(score.evidence as object).length === 0)
  return (
    <li ref={ref} className={`case-score ${focused ? 'focused' : ''}`} data-scorer={score.name}>
      <div className="case-score-head">
        <span className={`score-cell ${look.className}`} style={{ background: look.background }}>{scoreText(score)}</span>
        <strong>{score.name}</strong>
        {score.passed === true && <span className="outcome outcome-badge-passed">passed</span>}
        {score.passed === false && <span className="outcome outcome-badge-failed">not passed</span>}
        {score.label && score.value !== null && <span className="tag">{score.label}</span>}
      </div>
      {score.error && <div className="score-error">Scorer error: {score.error}</div>}
      {score.reason ? <div className="score-reason">{score.reason}</div>
        : !score.error && <div className="score-reason muted">no reason given</div>}
      {hasEvidence && (
        <details className="evidence">
          <summary>Evidence</summary>
          <Value value={score.evidence} />
        </details>
      )}
    </li>
  )
}

/** Any JSON value: text as text, structures as a collapsible tree. */
export function Value({ value, empty = 'empty' }: { value: unknown; empty?: string }) {
  if (value === null || value === undefined || value === '') return <div className="muted">{empty}</div>
  if (typeof value === 'string') return <pre className="payload-text">{value}</pre>
  if (typeof value !== 'object') return <pre className="payload-text">{JSON.stringify(value)}</pre>
  return <JsonTree value={value} />
}
