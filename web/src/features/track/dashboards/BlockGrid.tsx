import { useEffect, useRef, useState } from 'react'
import { BlockView } from '../blocks/BlockView'
import type { Block, Layout, RunsInView } from '../blocks/spec'
import { COLUMNS, geometry, settle } from './grid'

/** Below this, a block's chart has no room: the block is at least this many rows high. */
const MIN_ROWS = 3
/** The block's own header (its title, the drag handle) above what BlockView draws. */
const HEADER = 30

type Drag = { id: string; kind: 'move' | 'resize'; startX: number; startY: number; dx: number; dy: number }

/** Blocks on a 12-column grid. Editable: drag a block by its title bar to move it, by its corner to resize it;
 * the others make room. */
export function BlockGrid({ blocks, runs, editable, onLayout, onRemove, onEdit }: {
  blocks: Block[]
  runs: RunsInView
  editable: boolean
  onLayout?: (layouts: Record<string, Layout>) => void
  onRemove?: (id: string) => void
  onEdit?: (block: Block) => void
}) {
  const frame = useRef<HTMLDivElement>(null)
  const [width, setWidth] = useState(0)
  const [drag, setDrag] = useState<Drag | null>(null)
  useEffect(() => {
    const el = frame.current
    if (!el) return
    // a grid hidden for a moment (0 wide) keeps its blocks: unmounting them would throw their charts away
    const measure = () => { if (el.clientWidth > 0) setWidth(el.clientWidth) }
    const observer = new ResizeObserver(measure)
    observer.observe(el)
    measure()
    return () => observer.disconnect()
  }, [])
  const g = geometry(width)

  // while dragging: where the block would land, and the others making room for it
  const proposed = (d: Drag): Record<string, Layout> => {
    const items = blocks.map((b) => ({ id: b.id, layout: b.layout }))
    const moving = blocks.find((b) => b.id === d.id)
    if (!moving) return {}
    const l = moving.layout
    const next = d.kind === 'move'
      ? { ...l, x: clamp(l.x + g.columns(d.dx), 0, COLUMNS - l.w), y: Math.max(0, l.y + g.rows(d.dy)) }
      : { ...l, w: clamp(l.w + g.columns(d.dx), 1, COLUMNS - l.x), h: Math.max(MIN_ROWS, l.h + g.rows(d.dy)) }
    const settled = settle(items.map((i) => (i.id === d.id ? { ...i, layout: next } : i)), d.id)
    return Object.fromEntries(settled.map((i) => [i.id, i.layout]))
  }
  const live = drag ? proposed(drag) : null
  const layoutOf = (b: Block) => live?.[b.id] ?? b.layout
  const rows = blocks.reduce((m, b) => Math.max(m, layoutOf(b).y + layoutOf(b).h), 0)

  const start = (e: React.PointerEvent, id: string, kind: Drag['kind']) => {
    if (!editable || e.button !== 0) return
    e.preventDefault()
    e.stopPropagation();
    (e.currentTarget as HTMLElement).setPointerCapture(e.pointerId)
    setDrag({ id, kind, startX: e.clientX, startY: e.clientY, dx: 0, dy: 0 })
  }
  const moveTo = (e: React.PointerEvent) => {
    if (drag) setDrag({ ...drag, dx: e.clientX - drag.startX, dy: e.clientY - drag.startY })
  }
  const end = () => {
    if (!drag) return
    const settled = proposed(drag)
    setDrag(null)
    if (blocks.some((b) => JSON.stringify(b.layout) !== JSON.stringify(settled[b.id]))) onLayout?.(settled)
  }

  // the keyboard does what dragging does: arrows move the focused block a column or row, with Shift they resize it
  const STEPS: Record<string, [number, number]> = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] }
  const key = (e: React.KeyboardEvent, b: Block) => {
    const step = STEPS[e.key]
    if (!editable || !step || e.target !== e.currentTarget) return
    e.preventDefault()
    const l = b.layout
    const next = e.shiftKey
      ? { ...l, w: clamp(l.w + step[0], 1, COLUMNS - l.x), h: Math.max(MIN_ROWS, l.h + step[1]) }
      : { ...l, x: clamp(l.x + step[0], 0, COLUMNS - l.w), y: Math.max(0, l.y + step[1]) }
    const settled = settle(blocks.map((i) => ({ id: i.id, layout: i.id === b.id ? next : i.layout })), b.id)
    onLayout?.(Object.fromEntries(settled.map((i) => [i.id, i.layout])))
  }

  return (
    <div ref={frame} className={`block-grid ${editable ? 'editable' : ''}`}
      style={{ height: rows ? g.top(rows) - 10 : 0 }}>
      {width > 0 && blocks.map((b) => {
        const l = layoutOf(b)
        const dragging = drag?.id === b.id
        // the dragged block follows the pointer; the place it will take shows beneath it
        const dx = dragging && drag.kind === 'move' ? drag.dx : 0
        const dy = dragging && drag.kind === 'move' ? drag.dy : 0
        const home = dragging ? b.layout : l
        const w = dragging && drag.kind === 'resize' ? Math.max(g.column, g.width(home.w) + drag.dx) : g.width(home.w)
        const h = dragging && drag.kind === 'resize' ? Math.max(60, g.height(home.h) + drag.dy) : g.height(home.h)
        return (
          <div key={b.id}>
            {dragging && <div key="shadow" className="block-shadow" style={{ left: g.left(l.x), top: g.top(l.y), width: g.width(l.w),
              height: g.height(l.h) }} />}
            <section key="block" className={`grid-block kind-${b.type} ${dragging ? 'dragging' : ''}`} data-block={b.id}
              data-layout={`${l.x},${l.y},${l.w},${l.h}`} aria-label={b.title || b.type}
              style={{ left: g.left(home.x), top: g.top(home.y), width: w, height: h,
                transform: dx || dy ? `translate(${dx}px, ${dy}px)` : undefined }}>
              <header className="grid-block-head" onPointerDown={(e) => start(e, b.id, 'move')} onPointerMove={moveTo}
                onPointerUp={end} onPointerCancel={end} onKeyDown={(e) => key(e, b)} tabIndex={editable ? 0 : undefined}
                title={editable ? 'Drag to move (or arrow keys; Shift + arrows to resize)' : undefined}>
                <span className="grid-block-title">{b.title || b.type}</span>
                {editable && (
                  <span className="grid-block-actions" onPointerDown={(e) => e.stopPropagation()}>
                    {onEdit && <button className="link small" onClick={() => onEdit(b)}
                      aria-label={`Edit block ${b.title}`}>Edit</button>}
                    {onRemove && <button className="link small danger" onClick={() => onRemove(b.id)}
                      aria-label={`Remove block ${b.title}`}>×</button>}
                  </span>
                )}
              </header>
              <div className="grid-block-body">
                <BlockView block={b} runs={runs} height={Math.max(60, g.height(home.h) - HEADER)} />
              </div>
              {editable && <div className="resize-handle" aria-label={`Resize block ${b.title}`} role="slider"
                aria-valuetext={`${l.w} columns × ${l.h} rows`} aria-valuenow={l.w}
                onPointerDown={(e) => start(e, b.id, 'resize')} onPointerMove={moveTo} onPointerUp={end}
                onPointerCancel={end} />}
            </section>
          </div>
        )
      })}
    </div>
  )
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v))
}
