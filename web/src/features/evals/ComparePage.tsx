import { useMemo, useState } from 'react'
import { Link, useSearchParams } from 'react-router'
import { api, unwrap, type CaseResult, type Comparison, type EvalRunDetail } from '../../api/client'
import { Empty, ErrorBox, Spinner } from '../../components/Feedback'
import { ago, score } from '../../lib/format'
import { useQuery } from '../../lib/useQuery'
import { cellLook, scoreText, valueColor } from './scores'

type Suite = Comparison['suites'][number]
type Scorer = Suite['scorers'][number]
type Runs = Record<string, EvalRunDetail>

/** Two runs side by side: `?baseline_run=…&candidate_run=…` (two chosen runs) or `?baseline=…&candidate=…`
 * (two versions' newest completed runs, as `neon compare` does). */
export function ComparePage() {
  const [params, setParams] = useSearchParams()
  const baselineRun = params.get('baseline_run') ?? ''
  const candidateRun = params.get('candidate_run') ?? ''
  const baseline = params.get('baseline') ?? ''
  const candidate = params.get('candidate') ?? ''
  const suite = params.get('suite') ?? ''
  const threshold = Number(params.get('threshold') ?? '0.95')
  const byRuns = Boolean(baselineRun && candidateRun)
  const ready = byRuns || Boolean(baseline && candidate)

  const comparison = useQuery(`compare?${params}`, async (signal) => {
    if (!ready) return undefined
    const found = byRuns
      ? await unwrap(api.GET('/api/eval-runs/compare-runs', {
        params: { query: { baseline_run: baselineRun, candidate_run: candidateRun, threshold } }, signal,
      }))
      : await unwrap(api.GET('/api/eval-runs/compare', {
        params: { query: { baseline, candidate, threshold, ...(suite ? { suite } : {}) } }, signal,
      }))
    // The runs themselves give each case's reasons and traces.
    const ids = [...new Set(found.suites.flatMap((s) => [s.baseline_run, s.candidate_run]))]
    const runs = await Promise.all(ids.map((id) => unwrap(api.GET('/api/eval-runs/{run_id}', {
      params: { path: { run_id: id } }, signal,
    }))))
    return { comparison: found, runs: Object.fromEntries(runs.map((r) => [r.id, r])) as Runs }
  })

  const setThreshold = (value: number) => {
    const next = new URLSearchParams(params)
    next.set('threshold', String(value))
    setParams(next, { replace: true })
  }

  return (
    <div className="page compare-page">
      <Link className="back" to="/evals">← Eval runs</Link>
      <div className="page-head">
        <h1>Compare runs</h1>
        {ready && (
          <label className="field" title="A scorer regresses when the candidate's mean is below threshold × the baseline's mean">
            <span>Threshold</span>
            <select aria-label="Threshold" value={String(threshold)} onChange={(e) => setThreshold(Number(e.target.value))}>
              {[1, 0.99, 0.95, 0.9, 0.8, 0.5].map((t) => <option key={t} value={String(t)}>{t}</option>)}
              {![1, 0.99, 0.95, 0.9, 0.8, 0.5].includes(threshold) && <option value={String(threshold)}>{threshold}</option>}
            </select>
          </label>
        )}
      </div>
      {!ready && <VersionPicker onPick={(b, c, s) => setParams(new URLSearchParams({ baseline: b, candidate: c, ...(s ? { suite: s } : {}) }))} />}
      {comparison.error && <ErrorBox error={comparison.error} what="the comparison" retry={comparison.reload} />}
      {ready && comparison.loading && !comparison.data && <Spinner label="Comparing…" />}
      {comparison.data && <ComparisonView comparison={comparison.data.comparison} runs={comparison.data.runs} />}
    </div>
  )
}

function ComparisonView({ comparison, runs }: { comparison: Comparison; runs: Runs }) {
  const regressed = comparison.regressed
  const failing = comparison.suites.flatMap((s) => s.scorers.filter((x) => x.regressed).map((x) => `${x.name}`))
  return (
    <>
      <div className={`verdict ${regressed ? 'verdict-regression' : 'verdict-ok'}`} role="status" data-verdict={regressed ? 'regression' : 'ok'}>
        <div className="verdict-mark" aria-hidden>{regressed ? '✕' : '✓'}</div>
        <div>
          <div className="verdict-title">{regressed ? 'Regression' : 'No regression'}:
            {' '}<span className="version">{comparison.candidate}</span> vs <span className="version">{comparison.baseline}</span></div>
          <div className="verdict-sub">
            {regressed ? `${[...new Set(failing)].join(', ')} fell below ${comparison.threshold} × the baseline mean. ` : ''}
            A scorer regresses when the candidate's mean is below {comparison.threshold} × the baseline's, over
            the cases both runs share; the {Math.round(comparison.confidence * 100)}% interval of the mean change
            (bootstrap, seed {comparison.seed}) shows whether a change is more than noise.
          </div>
        </div>
      </div>
      {comparison.unmatched_suites.length > 0 && (
        <div className="notice">Run in only one of the versions (not compared): {comparison.unmatched_suites.join(', ')}</div>
      )}
      {comparison.suites.map((suite) => (
        <SuiteView key={suite.suite} suite={suite} baseline={runs[suite.baseline_run]} candidate={runs[suite.candidate_run]} />
      ))}
    </>
  )
}

function SuiteView({ suite, baseline, candidate }: { suite: Suite; baseline?: EvalRunDetail; candidate?: EvalRunDetail }) {
  const worse = useMemo(() => worseCases(suite), [suite])
  const before = useMemo(() => byCase(baseline), [baseline])
  const after = useMemo(() => byCase(candidate), [candidate])
  return (
    <section className="card compare-suite" aria-label={`Suite ${suite.suite}`}>
      <div className="suite-head">
        <h2>{suite.suite} {suite.regressed ? <span className="status status-error">regression</span> : <span className="status status-ok">ok</span>}</h2>
        <div className="run-pair">
          <RunRef label="Baseline" run={baseline} id={suite.baseline_run} />
          <span className="muted">→</span>
          <RunRef label="Candidate" run={candidate} id={suite.candidate_run} />
        </div>
      </div>
      <div className="table-scroll">
        <table className="plain-table scorer-compare" aria-label={`Scorers of ${suite.suite}`}>
          <thead>
            <tr><th>Scorer</th><th className="num">Baseline</th><th className="num">Candidate</th><th className="num">Change</th>
              <th>95% interval of the change</th><th className="num">Cases</th><th>Verdict</th></tr>
          </thead>
          <tbody>
            {suite.scorers.map((s) => <ScorerRow key={s.name} scorer={s} />)}
          </tbody>
        </table>
      </div>
      {(suite.baseline_only.length > 0 || suite.candidate_only.length > 0) && (
        <p className="muted small">
          {suite.baseline_only.length > 0 && <>Only in the baseline: {suite.baseline_only.join(', ')}. </>}
          {suite.candidate_only.length > 0 && <>Only in the candidate: {suite.candidate_only.join(', ')}.</>}
        </p>
      )}
      <h3>Cases that got worse ({worse.length})</h3>
      {worse.length === 0 && <Empty title="No case got worse"><p>Every paired case scored the same or better.</p></Empty>}
      {worse.length > 0 && (
        <ul className="worse-list" aria-label="Cases that got worse">
          {worse.map((w) => (
            <WorseCase key={w.caseId} caseId={w.caseId} drops={w.drops} before={before.get(w.caseId)} after={after.get(w.caseId)}
              baselineRun={suite.baseline_run} candidateRun={suite.candidate_run} />
          ))}
        </ul>
      )}
    </section>
  )
}

function RunRef({ label, run, id }: { label: string; run?: EvalRunDetail; id: string }) {
  return (
    <span className="run-ref">
      <span className="stat-label">{label}</span>{' '}
      <Link to={`/evals/${id}`}><span className="version">{run?.version ?? id}</span></Link>
      {run && <span className="muted"> · {run.passed}/{run.total} passed · {ago(run.started_at ?? run.created_at)}</span>}
    </span>
  )
}

function ScorerRow({ scorer: s }: { scorer: Scorer }) {
  const change = s.mean_delta
  return (
    <tr className={s.regressed ? 'regressed' : ''} data-scorer={s.name}>
      <td><strong>{s.name}</strong>{s.note && <span className="sub">{s.note}</span>}</td>
      <td className="num"><span className="mean-pill" style={{ background: valueColor(s.baseline_mean) }}>{score(s.baseline_mean)}</span></td>
      <td className="num"><span className="mean-pill" style={{ background: valueColor(s.candidate_mean) }}>{score(s.candidate_mean)}</span></td>
      <td className={`num delta ${change === null ? '' : change < 0 ? 'down' : change > 0 ? 'up' : ''}`}>{signed(change)}</td>
      <td><Interval low={s.ci_low} high={s.ci_high} /></td>
      <td className="num" title={`${s.paired} paired cases: ${s.worse.length} worse, ${s.improved_cases} better`}>
        {s.paired} <span className="muted">(<span className="down">{s.worse.length}↓</span> <span className="up">{s.improved_cases}↑</span>)</span>
      </td>
      <td>{s.paired === 0 ? <span className="muted">not compared</span>
        : s.regressed ? <span className="status status-error">regression</span> : <span className="status status-ok">ok</span>}
        {s.ratio !== null && <span className="sub">{Math.round(s.ratio * 1000) / 10}% of baseline</span>}</td>
    </tr>
  )
}

/** The interval on a −1…+1 axis with zero marked: left of zero is worse. */
function Interval({ low, high }: { low: number | null; high: number | null }) {
  if (low === null || high === null) return <span className="muted">–</span>
  const x = (v: number) => `${((Math.max(-1, Math.min(1, v)) + 1) / 2) * 100}%`
  const side = high < 0 ? 'down' : low > 0 ? 'up' : 'zero'
  return (
    <span className="interval" title={`${signed(low)} to ${signed(high)}${side === 'zero' ? ' (includes no change)' : ''}`}>
      <span className="interval-axis">
        <span className="interval-zero" />
        <span className={`interval-bar ${side}`} style={{ left: x(low), width: `calc(${x(high)} - ${x(low)} + 2px)` }} />
      </span>
      <span className="interval-text">[{signed(low)}, {signed(high)}]</span>
    </span>
  )
}

function WorseCase({ caseId, drops, before, after, baselineRun, candidateRun }: {
  caseId: string
  drops: Scorer['worse']
  before?: CaseResult
  after?: CaseResult
  baselineRun: string
  candidateRun: string
}) {
  const [open, setOpen] = useState(false)
  return (
    <li className="worse-case" data-case-id={caseId}>
      <div className="worse-head">
        <strong className="case-name">{caseId}</strong>
        <span className="trace-links">
          <Link to={`/evals/${baselineRun}?case=${encodeURIComponent(caseId)}`}>baseline case</Link>
          {before?.trace_id && <Link to={`/traces/${before.trace_id}`}>baseline trace</Link>}
          <Link to={`/evals/${candidateRun}?case=${encodeURIComponent(caseId)}`}>candidate case</Link>
          {after?.trace_id && <Link to={`/traces/${after.trace_id}`}>candidate trace</Link>}
        </span>
      </div>
      <div className="worse-scores">
        {drops.map((d) => {
          const was = before?.scores.find((s) => s.name === d.scorer)
          const now = after?.scores.find((s) => s.name === d.scorer)
          return (
            <div key={d.scorer} className="worse-score" data-scorer={d.scorer}>
              <span className="worse-scorer">{d.scorer}</span>
              <span className="before-after">
                <Cell value={d.baseline} text={was ? scoreText(was) : score(d.baseline)} className={was ? cellLook(was).className : 'cell-value'} />
                <span className="arrow">→</span>
                <Cell value={d.candidate} text={now ? scoreText(now) : score(d.candidate)} className={now ? cellLook(now).className : 'cell-value'} />
                <span className="delta down">{signed(d.delta)}</span>
              </span>
              <span className="reasons">
                {was?.reason && <span className="reason"><span className="muted">before:</span> {was.reason}</span>}
                <span className="reason"><span className="muted">after:</span> {now?.error ? `scorer error: ${now.error}` : now?.reason || <span className="muted">no reason given</span>}</span>
              </span>
            </div>
          )
        })}
      </div>
      {(before || after) && (
        <>
          <button className="link small" onClick={() => setOpen(!open)} aria-expanded={open}>{open ? 'Hide outputs' : 'Show outputs'}</button>
          {open && (
            <div className="outputs">
              <div><h3>Input</h3><pre className="payload-text">{text(after?.input ?? before?.input)}</pre></div>
              <div><h3>Baseline output</h3><pre className="payload-text">{before?.error ? `error: ${before.error}` : text(before?.output)}</pre></div>
              <div><h3>Candidate output</h3><pre className="payload-text">{after?.error ? `error: ${after.error}` : text(after?.output)}</pre></div>
            </div>
          )}
        </>
      )}
    </li>
  )
}

function Cell({ value, text: label, className }: { value: number; text: string; className: string }) {
  return <span className={`score-cell ${className}`} style={{ background: className.includes('cell-value') ? valueColor(value) : undefined }}>{label}</span>
}

/** Pick two versions (and a suite) from the recorded runs. */
function VersionPicker({ onPick }: { onPick: (baseline: string, candidate: string, suite: string) => void }) {
  const runs = useQuery('compare-picker', (signal) => unwrap(api.GET('/api/eval-runs', {
    params: { query: { limit: 500, status: 'completed' } }, signal,
  })))
  const [suite, setSuite] = useState('')
  const [baseline, setBaseline] = useState('')
  const [candidate, setCandidate] = useState('')
  if (runs.error) return <ErrorBox error={runs.error} what="eval runs" retry={runs.reload} />
  if (!runs.data) return <Spinner />
  const list = runs.data.runs
  const suites = [...new Set(list.map((r) => r.suite))].sort()
  const versions = [...new Set(list.filter((r) => !suite || r.suite === suite).map((r) => r.version))]
  if (!list.length) {
    return <Empty title="Nothing to compare yet"><p>Record runs of two versions with <code>neon eval --version …</code>, then compare them here.</p></Empty>
  }
  return (
    <form className="card compare-picker" onSubmit={(e) => {
      e.preventDefault()
      if (baseline && candidate) onPick(baseline, candidate, suite)
    }}>
      <p className="muted">Compare the newest completed runs of two versions — or tick two runs in the <Link to="/evals">list</Link>.</p>
      <div className="filter-row">
        <label className="field"><span>Suite</span>
          <select aria-label="Suite" value={suite} onChange={(e) => setSuite(e.target.value)}>
            <option value="">Every suite in both</option>
            {suites.map((s) => <option key={s}>{s}</option>)}
          </select></label>
        <label className="field"><span>Baseline</span>
          <select aria-label="Baseline version" value={baseline} onChange={(e) => setBaseline(e.target.value)}>
            <option value="">version…</option>
            {versions.map((v) => <option key={v}>{v}</option>)}
          </select></label>
        <label className="field"><span>Candidate</span>
          <select aria-label="Candidate version" value={candidate} onChange={(e) => setCandidate(e.target.value)}>
            <option value="">version…</option>
            {versions.map((v) => <option key={v}>{v}</option>)}
          </select></label>
        <button className="primary" type="submit" disabled={!baseline || !candidate}>Compare</button>
      </div>
    </form>
  )
}

/** Cases with at least one scorer lower in the candidate, worst total drop first. */
function worseCases(suite: Suite): { caseId: string; drops: Scorer['worse'] }[] {
  const cases = new Map<string, Scorer['worse']>()
  for (const s of suite.scorers) for (const w of s.worse) cases.set(w.case_id, [...(cases.get(w.case_id) ?? []), w])
  const total = (drops: Scorer['worse']) => drops.reduce((sum, d) => sum + d.delta, 0)
  return [...cases.entries()].map(([caseId, drops]) => ({ caseId, drops }))
    .sort((a, b) => total(a.drops) - total(b.drops) || a.caseId.localeCompare(b.caseId))
}

function byCase(run?: EvalRunDetail): Map<string, CaseResult> {
  return new Map((run?.results ?? []).map((r) => [r.case_id, r]))
}

function signed(x: number | null | undefined): string {
  if (x === null || x === undefined) return '–'
  const rounded = Math.round(x * 1000) / 1000
  return `${rounded > 0 ? '+' : rounded < 0 ? '−' : '±'}${Math.abs(rounded).toFixed(3)}`
}

function text(value: unknown): string {
  if (value === null || value === undefined) return ''
  return typeof value === 'string' ? value : JSON.stringify(value, null, 2)
}
