import { useEffect } from 'react'
import { Link, useParams } from 'react-router'
import { api, unwrap, type Schemas } from '../../api/client'
import { ErrorBox, Spinner } from '../../components/Feedback'
import { ago, score } from '../../lib/format'
import { useQuery } from '../../lib/useQuery'
import { runStatusClass, valueColor } from './scores'

type AbDetail = Schemas['AbDetail']
type AbSummary = Schemas['AbSummary']

const OPEN = new Set(['running', 'paused', 'comparing'])

const signed = (n: number | null | undefined) => (n === null || n === undefined ? '–'
  : `${n > 0 ? '+' : ''}${n.toFixed(3)}`)

/** An A/B test: each variant's live progress, a verdict per scorer against the baseline, and each case's
 * scores side by side with links to the trace of the agent run that answered it. */
export function AbTestPage() {
  const { abId = '' } = useParams()
  const test = useQuery(`ab-test:${abId}`, (signal) => unwrap(api.GET('/api/ab-tests/{ab_test_id}', {
    params: { path: { ab_test_id: abId } }, signal,
  })))
  const open = !test.data || OPEN.has(test.data.status)
  const reload = test.reload
  useEffect(() => {
    if (!open) return
    const timer = window.setInterval(reload, 1000)
    return () => window.clearInterval(timer)
  }, [open, reload])

  if (test.error) {
    return (
      <div className="page">
        <Link className="back" to="/evals">← Eval runs</Link>
        <ErrorBox error={test.error} what={`A/B test ${abId}`} retry={test.reload} />
      </div>
    )
  }
  if (!test.data) return <div className="page"><Spinner /></div>
  const data = test.data
  return (
    <div className="page ab-test-page">
      <Link className="back" to="/evals">← Eval runs</Link>
      <div className="trace-head run-head">
        <h1>
          A/B test · {data.suite} <span className={`status ${runStatusClass(data.status)}`}
            data-testid="ab-status">{data.status}</span>
        </h1>
        {data.error && <div className="error-box">{data.error}</div>}
        <dl className="facts inline">
          <dt>Id</dt><dd><code>{data.ab_test_id}</code></dd>
          <dt>Agent</dt><dd>{data.agent}</dd>
          {data.started_at && <><dt>Started</dt><dd>{ago(data.started_at)}</dd></>}
        </dl>
      </div>
      <Variants test={data} />
      <Verdicts test={data} />
      <CaseRows test={data} />
    </div>
  )
}

function Variants({ test }: { test: AbDetail }) {
  return (
    <section>
      <h2>Variants</h2>
      <table className="plain-table" aria-label="Variants">
        <thead><tr><th>Variant</th><th>Changes</th><th>Eval run</th><th>Progress</th><th>Status</th></tr></thead>
        <tbody>
          {test.variants.map((v, i) => (
            <tr key={v.label} data-variant={v.label}>
              <td><span className="version">{v.label}</span>{i === 0 && <span className="hint"> baseline</span>}</td>
              <td className="hint">{Object.keys(v.overrides).length ? Object.keys(v.overrides).join(', ') : 'as in the suite'}</td>
              <td><Link to={`/evals/${v.eval_run_id}`}>{v.eval_run_id}</Link></td>
              <td data-testid={`progress-${v.label}`}>
                {v.progress ? `${v.progress.done}/${v.progress.total} done · ${v.progress.passed} passed` : '–'}
              </td>
              <td>{v.progress?.status ?? '–'}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  )
}

function Verdicts({ test }: { test: AbDetail }) {
  if (!test.comparisons.length) {
    return <section><h2>Verdicts</h2><p className="hint">{OPEN.has(test.status)
      ? 'Each variant is compared with the baseline once every run has finished.' : 'No comparison.'}</p></section>
  }
  return (
    <section>
      <h2>Verdicts</h2>
      <table className="plain-table" aria-label="Verdicts">
        <thead>
          <tr><th>Variant</th><th>Scorer</th><th className="num">Baseline</th><th className="num">Variant</th>
            <th className="num">Mean Δ</th><th>95 % CI</th><th>Verdict</th></tr>
        </thead>
        <tbody>
          {test.comparisons.flatMap((c) => c.scorers.map((s) => (
            <tr key={`${c.label}/${s.scorer}`} data-variant={c.label} data-scorer={s.scorer}>
              <td><span className="version">{c.label}</span></td>
              <td>{s.scorer}</td>
              <td className="num">{score(s.baseline_mean)}</td>
              <td className="num">{score(s.candidate_mean)}</td>
              <td className="num">{signed(s.mean_delta)}</td>
              <td>[{signed(s.ci_low)}, {signed(s.ci_high)}]</td>
              <td><span className={`verdict verdict-${s.verdict.replaceAll(' ', '-')}`} data-testid="verdict">{s.verdict}</span></td>
            </tr>
          )))}
        </tbody>
      </table>
    </section>
  )
}

function CaseRows({ test }: { test: AbDetail }) {
  const labels = test.variants.map((v) => v.label)
  const scorers = [...new Set(test.cases.flatMap((row) => Object.values(row.variants)
    .flatMap((cell) => Object.keys(cell.scores))))].sort()
  return (
    <section>
      <h2>Cases</h2>
      <div className="table-scroll">
        <table className="plain-table" aria-label="Cases">
          <thead>
            <tr><th>Case</th>{labels.map((label) => <th key={label}>{label}</th>)}</tr>
          </thead>
          <tbody>
            {test.cases.map((row) => (
              <tr key={row.case_id} data-case={row.case_id}>
                <td><code>{row.case_id}</code></td>
                {labels.map((label) => {
                  const cell = row.variants[label]
                  return (
                    <td key={label} data-variant={label}>
                      {cell ? (
                        <span className="ab-cell">
                          {scorers.map((name) => (
                            <span key={name} className="score-chip" title={name}
                              style={{ background: valueColor(cell.scores[name] ?? null) }}>
                              {name} {score(cell.scores[name] ?? null)}
                            </span>
                          ))}
                          {cell.error && <span className="outcome-badge-errored" title={cell.error}>error</span>}
                          {cell.trace_id && <Link className="trace-link" to={`/traces/${cell.trace_id}`}>trace</Link>}
                        </span>
                      ) : <span className="hint">–</span>}
                    </td>
                  )
                })}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  )
}

/** The project's A/B tests, newest first, for the eval runs page (nothing when Temporal is not running). */
export function AbTestList() {
  const tests = useQuery('ab-tests', (signal) => unwrap(api.GET('/api/ab-tests', { params: { query: { limit: 20 } }, signal })))
  const list: AbSummary[] = tests.data?.ab_tests ?? []
  if (!list.length) return null
  return (
    <section className="ab-tests">
      <h2>A/B tests</h2>
      <table className="plain-table" aria-label="A/B tests">
        <thead><tr><th>Test</th><th>Suite</th><th>Variants</th><th>Status</th><th>Started</th></tr></thead>
        <tbody>
          {list.map((t) => (
            <tr key={t.ab_test_id}>
              <td><Link to={`/evals/ab/${t.ab_test_id}`}>{t.ab_test_id}</Link></td>
              <td>{t.suite}</td>
              <td>{t.variants.map((v) => v.label).join(' vs ')}</td>
              <td><span className={`status ${runStatusClass(t.status)}`}>{t.status}</span></td>
              <td>{t.started_at ? ago(t.started_at) : '–'}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  )
}
