import { useEffect, useMemo, useState } from 'react'
import { Link, useNavigate, useSearchParams } from 'react-router'
import { api, unwrap, type EvalRun } from '../../api/client'
import { CopyBlock } from '../../components/CopyBlock'
import { Empty, ErrorBox, Spinner } from '../../components/Feedback'
import { ago, durationMs, fullTime, parseTime, score } from '../../lib/format'
import { useQuery } from '../../lib/useQuery'
import { AbTestList } from './AbTestPage'
import { runStatusClass, valueColor } from './scores'

const LIMIT = 200

const SUITE_SNIPPET = `# evals/eval_support.py — a suite: an agent, cases and scorers
from neon.evaluate import contains, define_suite, tool_selection
from my_agent import answer   # any function (sync or async) taking the case input

define_suite("support-bot", agent=answer, dataset="cases.jsonl",   # {"input": …, "expected": …} per line
             scorers=[contains(), tool_selection()])`

const RUN_SNIPPET = `neon eval --path evals --version main          # record a run of every suite found
neon eval --path evals --version my-branch     # …and one of the change under test
neon compare --baseline main --candidate my-branch   # the CI gate (or compare them here)`

export function EvalRunsPage() {
  const [params, setParams] = useSearchParams()
  const navigate = useNavigate()
  const suite = params.get('suite') ?? ''
  const [picked, setPicked] = useState<string[]>([])

  const runs = useQuery(`eval-runs?${suite}`, (signal) => unwrap(api.GET('/api/eval-runs', {
    params: { query: { limit: LIMIT, ...(suite ? { suite } : {}) } }, signal,
  })))
  // The suite menu lists every suite, also while one is chosen.
  const all = useQuery('eval-runs-suites', (signal) => unwrap(api.GET('/api/eval-runs', {
    params: { query: { limit: 500 } }, signal,
  })))
  const suites = useMemo(() => [...new Set((all.data?.runs ?? []).map((r) => r.suite))].sort(), [all.data])

  // Runs still going are refreshed until they finish.
  const open = runs.data?.runs.some((r) => r.status === 'running' || r.status === 'queued')
  const reload = runs.reload
  useEffect(() => {
    if (!open) return
    const timer = window.setInterval(reload, 3000)
    return () => window.clearInterval(timer)
  }, [open, reload])

  const list = runs.data?.runs ?? []
  const chosen = picked.map((id) => list.find((r) => r.id === id)).filter((r): r is EvalRun => !!r)
  const toggle = (id: string) => setPicked((old) => (old.includes(id) ? old.filter((x) => x !== id)
    : [...old, id].slice(-2)))
  const sameSuite = chosen.length === 2 && chosen[0].suite === chosen[1].suite
  const compare = () => {
    // The older run is the baseline.
    const [baseline, candidate] = [...chosen].sort((a, b) => parseTime(a.created_at) - parseTime(b.created_at))
    navigate(`/evals/compare?baseline_run=${baseline.id}&candidate_run=${candidate.id}`)
  }

  return (
    <div className="page evals-page">
      <div className="page-head">
        <h1>Eval runs</h1>
        <div className="head-actions">
          <label className="field">
            <span>Suite</span>
            <select aria-label="Suite" value={suite} onChange={(e) => {
              const next = new URLSearchParams(params)
              if (e.target.value) next.set('suite', e.target.value)
              else next.delete('suite')
              setPicked([])
              setParams(next)
            }}>
              <option value="">All suites</option>
              {suite && !suites.includes(suite) && <option value={suite}>{suite}</option>}
              {suites.map((s) => <option key={s} value={s}>{s}</option>)}
            </select>
          </label>
          <Link to="/evals/compare">Compare versions…</Link>
          <button className="primary" disabled={!sameSuite} onClick={compare}
            title={chosen.length < 2 ? 'Tick two runs of one suite to compare them'
              : sameSuite ? 'Compare the older run (baseline) with the newer one' : 'The two runs must be of one suite'}>
            Compare{chosen.length ? ` (${chosen.length}/2)` : ''}
          </button>
        </div>
      </div>
      <AbTestList />
      {runs.error && <ErrorBox error={runs.error} what="eval runs" retry={runs.reload} />}
      {runs.loading && !runs.data && <Spinner />}
      {runs.data && list.length === 0 && (suite ? (
        <Empty title={`No runs of ${suite}`}>
          <p><button className="link" onClick={() => setParams(new URLSearchParams())}>Show all suites</button></p>
        </Empty>
      ) : (
        <div className="empty empty-wide">
          <h2>No eval runs yet</h2>
          <p>An eval run plays a suite's cases through your agent, scores each answer and records the result
            here, with a trace per case. Declare a suite in a Python file, then run it with <code>neon eval</code>
            (it reads the server and key that <code>neon up</code> saved, or <code>NEON_BASE_URL</code> and
            {' '}<code>NEON_API_KEY</code>).</p>
          <CopyBlock label="evals/eval_support.py" code={SUITE_SNIPPET} />
          <CopyBlock label="Terminal" code={RUN_SNIPPET} />
        </div>
      ))}
      {list.length > 0 && (
        <div className="table-scroll">
          <table className="plain-table runs-table" aria-label="Eval runs">
            <thead>
              <tr>
                <th className="pick" aria-label="Pick to compare" />
                <th>Suite</th><th>Version</th><th>Status</th><th>Started</th><th className="num">Duration</th>
                <th>Cases</th><th>Scorer means</th>
              </tr>
            </thead>
            <tbody>
              {list.map((run) => (
                <tr key={run.id} data-run-id={run.id} className={picked.includes(run.id) ? 'picked' : ''}>
                  <td className="pick">
                    <input type="checkbox" aria-label={`Pick ${run.suite} ${run.version} to compare`}
                      checked={picked.includes(run.id)} onChange={() => toggle(run.id)} />
                  </td>
                  <td><Link to={`/evals/${run.id}`} className="strong">{run.suite}</Link>
                    {run.dataset && <span className="sub">dataset {run.dataset}</span>}</td>
                  <td><span className="version">{run.version}</span></td>
                  <td><span className={`status ${runStatusClass(run.status)}`} title={run.error || undefined}>{run.status}</span></td>
                  <td title={fullTime(run.started_at ?? run.created_at)}>{ago(run.started_at ?? run.created_at)}</td>
                  <td className="num">{durationMs(run.duration_ms)}</td>
                  <td><CaseCounts run={run} /></td>
                  <td><ScorerMeans run={run} /></td>
                </tr>
              ))}
            </tbody>
          </table>
          {list.length === LIMIT && <p className="muted">Showing the newest {LIMIT} runs{suite ? '' : ': pick a suite to see older ones'}.</p>}
        </div>
      )}
    </div>
  )
}

export function CaseCounts({ run }: { run: EvalRun }) {
  const total = run.total || run.case_count || 0
  if (run.status === 'queued' || run.status === 'running') {
    return <span className="muted">{run.case_count ? `of ${run.case_count} cases` : 'running…'}</span>
  }
  return (
    <span className="case-counts" title={`${run.passed} passed, ${run.failed} failed, ${run.errored} errored of ${total}`}>
      <span className="count-passed">{run.passed} passed</span>
      {run.failed > 0 && <span className="count-failed">{run.failed} failed</span>}
      {run.errored > 0 && <span className="count-errored">{run.errored} errored</span>}
      <span className="muted">/ {total}</span>
    </span>
  )
}

export function ScorerMeans({ run }: { run: EvalRun }) {
  const scorers = Object.entries(run.summary?.scorers ?? {})
  if (!scorers.length) return <span className="muted">–</span>
  return (
    <span className="means">
      {scorers.map(([name, s]) => (
        <span key={name} className="mean-pill" style={{ background: valueColor(s.mean) }}
          title={`${name}: mean ${score(s.mean)} over ${s.count} cases${s.errors ? `, ${s.errors} scorer errors` : ''}`}>
          {name} <b>{score(s.mean)}</b>
        </span>
      ))}
    </span>
  )
}
