import { useVirtualizer } from '@tanstack/react-virtual'
import { useEffect, useMemo, useRef } from 'react'
import { Link, useParams, useSearchParams } from 'react-router'
import { api, unwrap, type CaseResult, type EvalRunDetail } from '../../api/client'
import { Empty, ErrorBox, Spinner } from '../../components/Feedback'
import { durationMs, fullTime, percent, score } from '../../lib/format'
import { useQuery } from '../../lib/useQuery'
import { CaseDetails } from './CaseDetails'
import { CaseCounts } from './EvalRunsPage'
import { RunProgress } from './RunProgress'
import { cellLook, outcomeOf, runStatusClass, scoreText, scoreTitle, scorerNames, valueColor, type CaseOutcome } from './scores'

const ROW_HEIGHT = 38

export function EvalRunPage() {
  const { runId = '' } = useParams()
  const [params, setParams] = useSearchParams()
  const run = useQuery(`eval-run:${runId}`, (signal) => unwrap(api.GET('/api/eval-runs/{run_id}', {
    params: { path: { run_id: runId } }, signal,
  })))
  const open = run.data && (run.data.status === 'running' || run.data.status === 'queued')
  const reload = run.reload
  useEffect(() => {
    if (!open) return
    const timer = window.setInterval(reload, 3000)
    return () => window.clearInterval(timer)
  }, [open, reload])

  const selected = params.get('case')
  const setParam = (key: string, value: string | null, also: Record<string, string> = {}) => {
    const next = new URLSearchParams(params)
    if (value) next.set(key, value)
    else next.delete(key)
    for (const [k, v] of Object.entries(also)) next.set(k, v)
    setParams(next, { replace: key !== 'case' })
  }

  if (run.error) {
    return (
      <div className="page">
        <Link className="back" to="/evals">← Eval runs</Link>
        <ErrorBox error={run.error} what={`eval run ${runId}`} retry={run.reload} />
      </div>
    )
  }
  if (!run.data) return <div className="page"><Spinner /></div>
  const data = run.data
  const chosen = data.results.find((r) => r.case_id === selected)

  return (
    <div className="page eval-run-page">
      <Link className="back" to={`/evals?suite=${encodeURIComponent(data.suite)}`}>← Eval runs</Link>
      <RunHeader run={data} />
      <RunProgress runId={data.id} onAdvance={reload} />
      <div className={`run-body ${chosen ? 'with-panel' : ''}`}>
        <CaseGrid run={data} selected={selected} onSelect={(id) => setParam('case', id === selected ? null : id)}
          outcome={(params.get('outcome') ?? '') as CaseOutcome | ''} onOutcome={(v) => setParam('outcome', v || null)}
          search={params.get('q') ?? ''} onSearch={(v) => setParam('q', v || null)}
          focusScorer={params.get('scorer')} onCell={(id, name) => setParam('case', id, { scorer: name })} />
        {chosen && (
          <CaseDetails result={chosen} focus={params.get('scorer')} onClose={() => setParam('case', null)} />
        )}
      </div>
    </div>
  )
}

function RunHeader({ run }: { run: EvalRunDetail }) {
  const summary = run.summary
  return (
    <div className="trace-head run-head">
      <h1>
        {run.suite} <span className="version big">{run.version}</span>
        <span className={`status ${runStatusClass(run.status)}`}>{run.status}</span>
        {summary?.pass_rate !== null && summary?.pass_rate !== undefined && (
          <span className="pass-rate" style={{ background: valueColor(summary.pass_rate) }}>{percent(summary.pass_rate)} passed</span>
        )}
      </h1>
      {run.error && <div className="error-box">Run failed: {run.error}</div>}
      <dl className="facts inline">
        <div><dt>Cases</dt><dd><CaseCounts run={run} /></dd></div>
        <div><dt>Started</dt><dd>{run.started_at ? fullTime(run.started_at) : 'not yet'}</dd></div>
        <div><dt>Duration</dt><dd>{durationMs(run.duration_ms)}</dd></div>
        <div><dt>Case time p50 / max</dt><dd>{durationMs(summary?.duration_ms_p50)} / {durationMs(summary?.duration_ms_max)}</dd></div>
        {run.dataset && <div><dt>Dataset</dt><dd><Link to={`/datasets/${encodeURIComponent(run.dataset)}`}>{run.dataset}</Link></dd></div>}
        <div><dt>Recorded by</dt><dd>{run.origin === 'server' ? 'the server' : 'neon eval'}</dd></div>
        <div><dt>Run id</dt><dd><code>{run.id}</code></dd></div>
        {Object.entries(run.metadata).map(([k, v]) => <div key={k}><dt>{k}</dt><dd>{String(v)}</dd></div>)}
      </dl>
      {summary && Object.keys(summary.scorers).length > 0 && (
        <div className="scorer-summary">
          {Object.entries(summary.scorers).map(([name, s]) => (
            <div key={name} className="scorer-stat" style={{ borderTopColor: valueColor(s.mean) }}>
              <div className="stat-label">{name}</div>
              <div className="stat-value">{score(s.mean)}</div>
              <div className="sub">{s.passed}/{s.scored} passed{s.errors ? ` · ${s.errors} errors` : ''}</div>
            </div>
          ))}
        </div>
      )}
    </div>
  )
}

function CaseGrid({ run, selected, onSelect, outcome, onOutcome, search, onSearch, focusScorer, onCell }: {
  run: EvalRunDetail
  selected: string | null
  onSelect: (caseId: string) => void
  outcome: CaseOutcome | ''
  onOutcome: (value: string) => void
  search: string
  onSearch: (value: string) => void
  focusScorer: string | null
  onCell: (caseId: string, scorer: string) => void
}) {
  const names = useMemo(() => scorerNames(run, run.results), [run])
  const rows = useMemo(() => {
    const needle = search.trim().toLowerCase()
    return run.results.filter((r) => (!outcome || outcomeOf(r) === outcome)
      && (!needle || r.case_id.toLowerCase().includes(needle) || JSON.stringify(r.input ?? '').toLowerCase().includes(needle)))
  }, [run.results, outcome, search])
  const counts = useMemo(() => {
    const c = { passed: 0, failed: 0, errored: 0 }
    for (const r of run.results) c[outcomeOf(r)] += 1
    return c
  }, [run.results])

  const scroller = useRef<HTMLDivElement>(null)
  const virtualizer = useVirtualizer({
    count: rows.length,
    getScrollElement: () => scroller.current,
    estimateSize: () => ROW_HEIGHT,
    overscan: 10,
  })
  // A case chosen in the address (a shared link) is scrolled into view.
  const selectedIndex = selected ? rows.findIndex((r) => r.case_id === selected) : -1
  useEffect(() => {
    if (selectedIndex >= 0) virtualizer.scrollToIndex(selectedIndex, { align: 'auto' })
  }, [selectedIndex, virtualizer])
  const columns = `minmax(170px, 2fr) 84px repeat(${names.length}, minmax(96px, 1fr)) 80px`
  const minWidth = 170 + 84 + names.length * 96 + 80

  return (
    <div className="case-grid-wrap">
      <div className="grid-tools">
        <div className="segmented" role="group" aria-label="Show cases">
          {(['', 'failed', 'errored', 'passed'] as const).map((o) => (
            <button key={o || 'all'} className={outcome === o ? 'on' : ''} onClick={() => onOutcome(o)} aria-pressed={outcome === o}>
              {o ? `${o[0].toUpperCase()}${o.slice(1)} ${counts[o]}` : `All ${run.results.length}`}
            </button>
          ))}
        </div>
        <input type="search" className="grid-search" aria-label="Find a case" placeholder="Find a case (id or input)…"
          value={search} onChange={(e) => onSearch(e.target.value)} />
      </div>
      <div className="case-grid" ref={scroller} role="grid" aria-label="Cases by scorer" aria-rowcount={rows.length + 1}>
        <div style={{ minWidth }}>
          <div className="grid-row grid-head" role="row" style={{ gridTemplateColumns: columns }}>
            <div role="columnheader">Case</div>
            <div role="columnheader">Result</div>
            {names.map((name) => (
              <div key={name} role="columnheader" className={`num ${focusScorer === name ? 'focused' : ''}`} title={name}>{name}</div>
            ))}
            <div role="columnheader" className="num">Time</div>
          </div>
          {run.results.length === 0 && (
            <Empty title={run.status === 'completed' || run.status === 'failed' ? 'This run has no cases'
              : run.status === 'cancelled' ? 'Cancelled before any case finished' : 'No case has finished yet'}>
              <p>{run.status === 'completed' || run.status === 'failed' || run.status === 'cancelled'
                ? 'The suite had no cases to run.' : 'Results appear here as the cases finish.'}</p>
            </Empty>
          )}
          {run.results.length > 0 && rows.length === 0 && <div className="loading-row">No case matches.</div>}
          <div style={{ height: virtualizer.getTotalSize(), position: 'relative' }}>
            {virtualizer.getVirtualItems().map((item) => {
              const r = rows[item.index]
              return (
                <CaseRow key={r.case_id} result={r} names={names} columns={columns} top={item.start}
                  selected={r.case_id === selected} onSelect={onSelect} onCell={onCell} />
              )
            })}
          </div>
        </div>
      </div>
    </div>
  )
}

function CaseRow({ result, names, columns, top, selected, onSelect, onCell }: {
  result: CaseResult
  names: string[]
  columns: string
  top: number
  selected: boolean
  onSelect: (caseId: string) => void
  onCell: (caseId: string, scorer: string) => void
}) {
  const outcome = outcomeOf(result)
  const byName = new Map(result.scores.map((s) => [s.name, s]))
  return (
    <div role="row" data-case-id={result.case_id}
      className={`grid-row case-row outcome-${outcome} ${selected ? 'selected' : ''}`}
      style={{ gridTemplateColumns: columns, transform: `translateY(${top}px)`, height: ROW_HEIGHT }}
      onClick={() => onSelect(result.case_id)}>
      <div role="rowheader" className="case-id" title={result.case_id}>
        <button className="link case-link" onClick={(e) => { e.stopPropagation(); onSelect(result.case_id) }}>{result.case_id}</button>
      </div>
      <div role="gridcell"><span className={`outcome outcome-badge-${outcome}`}>{outcome}</span></div>
      {names.map((name) => {
        const s = byName.get(name)
        const look = cellLook(s)
        return (
          <div key={name} role="gridcell" className="score-cell-wrap">
            {s ? (
              <button className={`score-cell ${look.className}`} style={{ background: look.background }}
                title={scoreTitle(s)} data-scorer={name}
                onClick={(e) => {
                  e.stopPropagation()
                  onCell(result.case_id, name)
                }}>
                {scoreText(s)}{s.reason && <span className="has-reason" aria-hidden>•</span>}
              </button>
            ) : <span className="muted" title={`${name} did not score this case`}>–</span>}
          </div>
        )
      })}
      <div role="gridcell" className="num muted">{durationMs(result.duration_ms)}</div>
    </div>
  )
}
