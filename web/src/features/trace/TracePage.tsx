import { useVirtualizer } from '@tanstack/react-virtual'
import { useCallback, useEffect, useMemo, useRef, useState } from 'react'
import { Link, useParams, useSearchParams } from 'react-router'
import { api, unwrap, type Score, type Span, type TraceSummary } from '../../api/client'
import { ErrorBox, Spinner } from '../../components/Feedback'
import { count, duration, fullTime, score, traceCost } from '../../lib/format'
import { StatusBadge } from '../traces/TracesPage'
import { SpanPanel } from './SpanPanel'
import { buildTree, flatten, kindOf, type Tree } from './tree'

const ROW = 28
const FIRST_PAGE = 1000
const NEXT_PAGES = 5000

type Loaded = { trace: TraceSummary; spans: Span[]; complete: boolean }

export function TracePage() {
  const { traceId = '' } = useParams()
  const [search, setSearch] = useSearchParams()
  const [loaded, setLoaded] = useState<Loaded | null>(null)
  const [error, setError] = useState<Error | null>(null)
  const [scores, setScores] = useState<Score[]>([])
  const [collapsed, setCollapsed] = useState<Set<string>>(new Set())

  // The first page of spans shows at once; the rest stream in behind it, so a 10,000-span trace opens fast.
  useEffect(() => {
    const controller = new AbortController()
    setLoaded(null)
    setError(null)
    const run = async () => {
      let offset: number | null = 0
      let spans: Span[] = []
      while (offset !== null && !controller.signal.aborted) {
        const limit: number = offset === 0 ? FIRST_PAGE : NEXT_PAGES
        const page = await unwrap(api.GET('/api/traces/{trace_id}', {
          params: { path: { trace_id: traceId }, query: { limit, offset } }, signal: controller.signal,
        }))
        spans = spans.concat(page.spans)
        offset = page.next_offset
        setLoaded({ trace: page.trace, spans, complete: offset === null })
      }
    }
    run().catch((err: unknown) => !controller.signal.aborted && setError(err as Error))
    unwrap(api.GET('/api/scores', { params: { query: { trace_id: traceId, limit: 1000 } }, signal: controller.signal }))
      .then((page) => setScores(page.scores), () => setScores([]))
    return () => controller.abort()
  }, [traceId])

  // Marks for bench/ui_bench.py: the waterfall rendered its first page, then every span.
  useEffect(() => {
    if (loaded) performance.mark(loaded.complete ? 'neon:trace-all-spans' : 'neon:trace-first-spans')
  }, [loaded])

  const tree = useMemo(() => (loaded ? buildTree(loaded.spans, loaded.trace.start_time) : null), [loaded])
  const rows = useMemo(() => (tree ? flatten(tree, collapsed) : []), [tree, collapsed])
  const selectedId = search.get('span') ?? ''
  const selected = loaded?.spans.find((s) => s.span_id === selectedId) ?? null
  const select = useCallback((spanId: string | null) => {
    const next = new URLSearchParams(search)
    if (spanId) next.set('span', spanId)
    else next.delete('span')
    setSearch(next, { replace: true })
  }, [search, setSearch])
  const toggle = useCallback((spanId: string) => {
    setCollapsed((old) => {
      const next = new Set(old)
      if (next.has(spanId)) next.delete(spanId)
      else next.add(spanId)
      return next
    })
  }, [])

  if (error) return <div className="page"><BackLink /><ErrorBox error={error} what="this trace" /></div>
  if (!loaded || !tree) return <div className="page"><BackLink /><Spinner label="Loading trace…" /></div>
  const { trace } = loaded
  const traceScores = scores.filter((s) => !s.span_id)
  return (
    <div className="page trace-page">
      <BackLink />
      <div className="trace-head">
        <h1>{trace.name || '(unnamed trace)'} {trace.status !== 'unset' && <StatusBadge status={trace.status} errors={trace.error_count} />}</h1>
        <dl className="facts inline">
          <div><dt>Started</dt><dd>{fullTime(trace.start_time)}</dd></div>
          <div><dt>Duration</dt><dd>{duration(tree.totalNs)}</dd></div>
          <div><dt>Spans</dt><dd>{count(trace.span_count)}</dd></div>
          <div><dt>LLM calls</dt><dd>{trace.llm_call_count}</dd></div>
          <div><dt>Tool calls</dt><dd>{trace.tool_call_count}</dd></div>
          <div><dt>Tokens</dt><dd>{count(trace.total_tokens)}</dd></div>
          <div><dt>Cost</dt><TraceCost cost={trace.cost} unpriced={trace.unpriced_llm_calls} /></div>
          {trace.session_id && <div><dt>Session</dt><dd><Link to={`/sessions/${encodeURIComponent(trace.session_id)}`}>{trace.session_id}</Link></dd></div>}
          {trace.user_id && <div><dt>User</dt><dd>{trace.user_id}</dd></div>}
          {trace.agent_id && <div><dt>Agent</dt><dd>{trace.agent_id}{trace.agent_version ? ` @ ${trace.agent_version}` : ''}</dd></div>}
          {trace.environment && <div><dt>Env</dt><dd>{trace.environment}</dd></div>}
        </dl>
        {(traceScores.length > 0 || trace.tags.length > 0) && (
          <div className="trace-tags">
            {traceScores.map((s) => (
              <span key={s.score_id} className={`score-pill ${typeof s.value === 'number' && s.value < 0.5 ? 'low' : ''}`} title={s.reason}>
                {s.name} {score(s.value)}
              </span>
            ))}
            {trace.tags.map((t) => <span key={t} className="tag">{t}</span>)}
          </div>
        )}
      </div>
      {!loaded.complete && (
        <div className="notice" role="status">Loaded {count(loaded.spans.length)} of {count(trace.span_count)} spans…</div>
      )}
      <div className={`trace-body ${selected ? 'with-panel' : ''}`}>
        <Waterfall tree={tree} rows={rows} collapsed={collapsed} selectedId={selectedId} onSelect={select} onToggle={toggle} />
        {selected && <SpanPanel span={selected} scores={scores} onClose={() => select(null)} />}
      </div>
    </div>
  )
}

/** Where a bar's duration label goes: after the bar, before it when the bar ends near the right edge, or
 * inside it when the bar is long and starts near the left. */
function durationLabel(left: number, width: number): React.CSSProperties {
  if (left + width <= 70) return { left: `calc(${left + width}% + 4px)` }
  if (left >= 20) return { right: `calc(${100 - left}% + 4px)` }
  return { left: `calc(${left}% + 6px)` }
}

function TraceCost({ cost, unpriced }: { cost: number | null; unpriced: number }) {
  const shown = traceCost(cost, unpriced)
  return <dd className={shown.title ? 'cost-partial' : undefined} title={shown.title}>{shown.text}</dd>
}

function BackLink() {
  return <Link className="back" to="/traces">← Traces</Link>
}

function Waterfall({ tree, rows, collapsed, selectedId, onSelect, onToggle }: {
  tree: Tree
  rows: ReturnType<typeof flatten>
  collapsed: Set<string>
  selectedId: string
  onSelect: (id: string) => void
  onToggle: (id: string) => void
}) {
  const scroller = useRef<HTMLDivElement>(null)
  const virtualizer = useVirtualizer({
    count: rows.length, getScrollElement: () => scroller.current, estimateSize: () => ROW, overscan: 20,
  })
  const selectedIndex = rows.findIndex((r) => r.span.span_id === selectedId)
  const onKey = (e: React.KeyboardEvent) => {
    const move = e.key === 'ArrowDown' ? 1 : e.key === 'ArrowUp' ? -1 : 0
    if (move) {
      e.preventDefault()
      const next = Math.min(rows.length - 1, Math.max(0, (selectedIndex < 0 ? -1 : selectedIndex) + move))
      onSelect(rows[next].span.span_id)
      virtualizer.scrollToIndex(next, { align: 'auto' })
    } else if ((e.key === 'ArrowLeft' || e.key === 'ArrowRight') && selectedIndex >= 0) {
      const row = rows[selectedIndex]
      if (row.hasChildren && collapsed.has(row.span.span_id) === (e.key === 'ArrowRight')) onToggle(row.span.span_id)
    }
  }
  const ticks = [0, 0.25, 0.5, 0.75, 1]
  return (
    <div className="waterfall" role="tree" aria-label="Spans" tabIndex={0} onKeyDown={onKey}>
      <div className="wf-head">
        <div className="wf-name">Span</div>
        <div className="wf-axis">
          {ticks.map((t) => (
            <span key={t} style={{ left: `${t * 100}%` }}>{t === 0 ? '0' : duration(tree.totalNs * t)}</span>
          ))}
        </div>
      </div>
      <div className="wf-body" ref={scroller}>
        <div style={{ height: virtualizer.getTotalSize(), position: 'relative' }}>
          {virtualizer.getVirtualItems().map((item) => {
            const { span, depth, hasChildren } = rows[item.index]
            const offset = tree.offsets.get(span.span_id) ?? 0
            const left = (offset / tree.totalNs) * 100
            const width = Math.max((span.duration_ns / tree.totalNs) * 100, 0.15)
            const kind = kindOf(span)
            const isSelected = span.span_id === selectedId
            return (
              <div
                key={span.span_id}
                role="treeitem"
                aria-level={depth + 1}
                aria-selected={isSelected}
                aria-expanded={hasChildren ? !collapsed.has(span.span_id) : undefined}
                className={`wf-row ${isSelected ? 'selected' : ''} ${span.status === 'error' ? 'is-error' : ''}`}
                style={{ transform: `translateY(${item.start}px)`, height: ROW }}
                onClick={() => onSelect(span.span_id)}
                data-span-id={span.span_id}
              >
                <div className="wf-name" style={{ paddingLeft: 6 + depth * 14 }}>
                  {hasChildren ? (
                    <button className="wf-toggle" aria-label={collapsed.has(span.span_id) ? 'Expand' : 'Collapse'}
                      onClick={(e) => { e.stopPropagation(); onToggle(span.span_id) }}>
                      {collapsed.has(span.span_id) ? '▸' : '▾'}
                    </button>
                  ) : <span className="wf-toggle-space" />}
                  <span className={`kind kind-${kind}`}>{kind}</span>
                  <span className="wf-label" title={span.name}>{span.tool_name || span.name}</span>
                  {span.status === 'error' && <span className="err-mark" title={span.status_message}>!</span>}
                </div>
                <div className="wf-track">
                  <div className={`wf-bar kind-bg-${kind} ${span.status === 'error' ? 'bar-error' : ''}`}
                    style={{ left: `${Math.min(left, 99.85)}%`, width: `${width}%` }} />
                  <span className={`wf-dur ${left + width > 70 && left < 20 ? 'inside' : ''}`} style={durationLabel(left, width)}>
                    {duration(span.duration_ns)}{span.total_tokens ? ` · ${count(span.total_tokens)} tok` : ''}
                  </span>
                </div>
              </div>
            )
          })}
        </div>
      </div>
    </div>
  )
}
