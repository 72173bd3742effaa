// The span tree of a trace, flattened into the rows the waterfall shows (collapsed subtrees left out).
import type { Span } from '../../api/client'
import { nanosBetween } from '../../lib/format'

export type Tree = {
  roots: Span[]
  children: Map<string, Span[]>
  offsets: Map<string, number> // span id → ns after the trace's start
  totalNs: number
}

export type TreeRow = { span: Span; depth: number; hasChildren: boolean }

/** Spans arrive in start order; a span whose parent is missing (not sent, or not loaded yet) becomes a root. */
export function buildTree(spans: Span[], traceStart: string): Tree {
  const ids = new Set(spans.map((s) => s.span_id))
  const children = new Map<string, Span[]>()
  const roots: Span[] = []
  const offsets = new Map<string, number>()
  let end = 0
  for (const span of spans) {
    const offset = nanosBetween(traceStart, span.start_time)
    offsets.set(span.span_id, offset)
    end = Math.max(end, offset + span.duration_ns)
    if (span.parent_span_id && ids.has(span.parent_span_id) && span.parent_span_id !== span.span_id) {
      const list = children.get(span.parent_span_id)
      if (list) list.push(span)
      else children.set(span.parent_span_id, [span])
    } else {
      roots.push(span)
    }
  }
  return { roots, children, offsets, totalNs: Math.max(end, 1) }
}

export function flatten(tree: Tree, collapsed: Set<string>): TreeRow[] {
  const rows: TreeRow[] = []
  const stack: { span: Span; depth: number }[] = []
  for (let i = tree.roots.length - 1; i >= 0; i--) stack.push({ span: tree.roots[i], depth: 0 })
  const seen = new Set<string>()
  while (stack.length) {
    const { span, depth } = stack.pop()!
    if (seen.has(span.span_id)) continue // a cycle in bad data must not hang the page
    seen.add(span.span_id)
    const kids = tree.children.get(span.span_id) ?? []
    rows.push({ span, depth, hasChildren: kids.length > 0 })
    if (!collapsed.has(span.span_id)) {
      for (let i = kids.length - 1; i >= 0; i--) stack.push({ span: kids[i], depth: depth + 1 })
    }
  }
  return rows
}

/** A colour per span type; errors override it. */
export function kindOf(span: Span): string {
  if (span.component_type) return span.component_type
  return span.span_type || 'span'
}
