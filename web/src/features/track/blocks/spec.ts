// What a Track block is, wherever it is shown: a dashboard, a report or the chart builder's preview.
// The server keeps a block's `type`, `title` and `layout` checked and its `options` as the block type defines them.

/** A 12-column grid; y and h count rows of the grid's row height. */
export type Layout = { x: number; y: number; w: number; h: number }

export type Smoothing =
  | { kind: 'none' }
  | { kind: 'ema'; weight: number }
  | { kind: 'sma'; window: number }
  | { kind: 'gaussian'; sigma: number }

export type XAxisSpec = { kind: 'step' | 'time' | 'relative' } | { kind: 'metric'; path: string }

/** Lines over x: one per run (or group) and metric or formula. */
export type LineOptions = {
  /** float series paths; a path written between slashes, /regex/, stands for every metric of the runs it matches */
  metrics: string[]
  /** formulas (docs/track-formulas.md), each a line per run or group */
  formulas: string[]
  x: XAxisSpec
  logX: boolean
  logY: boolean
  smoothing: Smoothing
  /** draw runs given as runs as one group instead: their mean with a ± std band (the default: a line per run) */
  aggregateRuns?: boolean
}
/** One point per run: an attribute or a series aggregate on each axis (e.g. final loss against learning rate). */
export type ScatterOptions = { x: ValueRef; y: ValueRef; logX: boolean; logY: boolean }
/** One big number per run (or the first run): an attribute or a series aggregate. */
export type ValueOptions = { value: ValueRef }
/** Runs as rows, the chosen attributes and series aggregates as columns. */
export type TableOptions = { columns: ValueRef[] }
/** A run's histogram series at a step (a slider over its steps); `run`: which run, else the first in view. */
export type HistogramOptions = { path: string; run?: string }
/** A run's file series (a slider over its steps) or file attribute, when it is an image; `run` as for histograms. */
export type ImageOptions = { path: string; run?: string }
export type MarkdownOptions = { text: string }
/** An attribute (`aggregate` null) or a series' aggregate, as the runs table names them. */
export type ValueRef = { path: string; aggregate: string | null }

export type BlockOptions = {
  line: LineOptions
  scatter: ScatterOptions
  value: ValueOptions
  table: TableOptions
  histogram: HistogramOptions
  image: ImageOptions
  markdown: MarkdownOptions
}
export type BlockType = keyof BlockOptions
export type Block<T extends BlockType = BlockType> = T extends BlockType
  ? { id: string; type: T; title: string; layout: Layout; options: BlockOptions[T] }
  : never

/** A named part of a dashboard. A dynamic section holds no saved blocks: it shows a block of its template for every
 * metric matching its regex, re-evaluated whenever the runs gain metrics. */
export type Section = {
  id: string
  title: string
  collapsed: boolean
  blocks: Block[]
  dynamic: { regex: string; template: Omit<LineOptions, 'metrics'> } | null
}

export type DashboardSpec = { sections: Section[] }

/** The runs a block shows: runs, or groups of runs (each drawn as its mean ± std). */
export type RunsInView = { runIds: string[]; groups: { name: string; runs: string[] }[] }

export const DEFAULT_LINE: LineOptions = {
  metrics: [], formulas: [], x: { kind: 'step' }, logX: false, logY: false, smoothing: { kind: 'none' },
}

export function newId(): string {
  return Math.random().toString(36).slice(2, 10)
}
