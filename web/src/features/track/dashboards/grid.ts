// The 12-column block grid's arithmetic: where a layout sits in pixels, and how blocks make room for one that moved.
import type { Layout } from '../blocks/spec'

export const COLUMNS = 12
export const ROW_HEIGHT = 40
export const GAP = 10

export type Placed = { id: string; layout: Layout }

export function overlaps(a: Layout, b: Layout): boolean {
  return a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h
}

/** The layouts after `moved` took its new place: the others keep their order, are pushed below anything they would
 * overlap, then float up as far as they can (so no gaps open where a block left). */
export function settle(items: Placed[], movedId: string | null): Placed[] {
  const moved = items.find((i) => i.id === movedId)
  const others = items.filter((i) => i.id !== movedId)
    .sort((a, b) => a.layout.y - b.layout.y || a.layout.x - b.layout.x)
  const placed: Placed[] = moved ? [moved] : []
  for (const item of others) {
    const layout = { ...item.layout }
    // float up while nothing is in the way, then down past whatever it overlaps
    while (layout.y > 0 && !placed.some((p) => overlaps({ ...layout, y: layout.y - 1 }, p.layout))) layout.y -= 1
    while (placed.some((p) => overlaps(layout, p.layout))) layout.y += 1
    placed.push({ ...item, layout })
  }
  if (moved) {
    // the moved block floats up too, unless that would put it above what it was dropped under
    const layout = { ...moved.layout }
    const rest = placed.slice(1)
    while (layout.y > 0 && !rest.some((p) => overlaps({ ...layout, y: layout.y - 1 }, p.layout))) layout.y -= 1
    placed[0] = { ...moved, layout }
  }
  const order = new Map(items.map((i, n) => [i.id, n]))
  return placed.sort((a, b) => (order.get(a.id) ?? 0) - (order.get(b.id) ?? 0))
}

/** The first free place of a w × h block: the lowest row under every block, at the left. */
export function below(items: Placed[], w: number, h: number): Layout {
  const y = items.reduce((m, i) => Math.max(m, i.layout.y + i.layout.h), 0)
  return { x: 0, y, w, h }
}

/** A grid's pixel geometry at a given width. */
export function geometry(width: number) {
  const column = Math.max(10, (width - GAP * (COLUMNS - 1)) / COLUMNS)
  return {
    column,
    left: (x: number) => x * (column + GAP),
    top: (y: number) => y * (ROW_HEIGHT + GAP),
    width: (w: number) => w * column + (w - 1) * GAP,
    height: (h: number) => h * ROW_HEIGHT + (h - 1) * GAP,
    /** columns and rows a pixel offset spans, rounded to the nearest */
    columns: (dx: number) => Math.round(dx / (column + GAP)),
    rows: (dy: number) => Math.round(dy / (ROW_HEIGHT + GAP)),
  }
}

/** Blocks laid out two to a row (for blocks a dynamic section makes). */
export function tiled(count: number, w = 6, h = 7): Layout[] {
  const perRow = Math.max(1, Math.floor(COLUMNS / w))
  return Array.from({ length: count }, (_, i) => ({ x: (i % perRow) * w, y: Math.floor(i / perRow) * h, w, h }))
}
