// What every Track screen shares: a run's colour, how values read, and the runs picked for charts.
import { useEffect, useState } from 'react'
import { current } from '../../api/auth'
import type { components } from '../../api/schema'

export type TableColumn = components['schemas']['TableColumn']
export type TableRequest = components['schemas']['TableRequest']
export type TableResponse = components['schemas']['TableResponse']
export type TableRow = components['schemas']['TableRow']
export type TableGroup = components['schemas']['TableGroup']
export type GroupColumn = components['schemas']['GroupColumn']
export type AttributeName = components['schemas']['AttributeName']
export type RunDetail = components['schemas']['TrackRunDetail']

/** Twelve colours that stay apart on white; a run keeps its colour on every screen. */
export const RUN_PALETTE = ['#3b6fd8', '#e0803a', '#2e9e6b', '#c4485b', '#8a5cc9', '#2d9fb5', '#b59b2d', '#d4619e',
  '#5a7d2e', '#7a5230', '#4b5bbf', '#c2410c']

/** The run's colour: a hash (FNV-1a) of its id into the palette, so it is the same wherever the run appears. */
export function runColor(runId: string): string {
  let hash = 0x811c9dc5
  for (let i = 0; i < runId.length; i++) {
    hash ^= runId.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193)
  }
  return RUN_PALETTE[(hash >>> 0) % RUN_PALETTE.length]
}

export const SERIES_TYPES = new Set(['floatSeries', 'stringSeries', 'histogramSeries', 'fileRefSeries'])
export const FLOAT_AGGREGATES = ['last', 'min', 'max', 'average', 'variance', 'count', 'last_step'] as const
export const OTHER_AGGREGATES = ['count', 'last_step'] as const

/** A float as people read it: up to 6 significant digits, exponents for the very large and small. */
export function number(value: number): string {
  if (Number.isInteger(value) && Math.abs(value) < 1e15) return value.toLocaleString('en-US')
  const abs = Math.abs(value)
  if (abs !== 0 && (abs < 1e-4 || abs >= 1e9)) return value.toExponential(3)
  return String(Number(value.toPrecision(6)))
}

/** A value of the table or a run's attributes, as text. */
export function valueText(value: unknown): string {
  if (value === null || value === undefined) return ''
  if (typeof value === 'number') return number(value)
  if (typeof value === 'boolean') return value ? 'true' : 'false'
  if (Array.isArray(value)) return value.join(', ')
  if (typeof value === 'object') {
    const file = value as { path?: string; size_bytes?: number }
    if (file.path) return `${file.path} (${file.size_bytes ?? 0} B)`
    return JSON.stringify(value)
  }
  const text = String(value)
  // datetimes: drop the milliseconds and offset noise of UTC
  if (/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(\+00:00|Z)$/.test(text)) return text.replace(/(\.\d+)?(\+00:00|Z)$/, '').replace('T', ' ')
  return text
}

/** A float of the API ("NaN", "Infinity" travel as strings) as a number, or null. */
export function toNumber(value: unknown): number | null {
  if (typeof value === 'number') return value
  if (value === 'NaN') return NaN
  if (value === 'Infinity') return Infinity
  if (value === '-Infinity') return -Infinity
  return null
}

// ---- runs picked for charts: kept per project in this browser, shared by every Track screen
const listeners = new Set<() => void>()

function selectionKey(): string {
  return `neon.track.selected.${current()?.projectId ?? ''}`
}

export function selectedRuns(): string[] {
  try {
    const stored = JSON.parse(localStorage.getItem(selectionKey()) ?? '[]') as unknown
    return Array.isArray(stored) ? stored.filter((v): v is string => typeof v === 'string') : []
  } catch {
    return []
  }
}

export function setSelectedRuns(runIds: string[]): void {
  localStorage.setItem(selectionKey(), JSON.stringify(runIds))
  listeners.forEach((listener) => listener())
}

export function toggleRun(runId: string): void {
  const now = selectedRuns()
  setSelectedRuns(now.includes(runId) ? now.filter((r) => r !== runId) : [...now, runId])
}

export function useSelectedRuns(): string[] {
  const [runs, setRuns] = useState(selectedRuns)
  useEffect(() => {
    const update = () => setRuns(selectedRuns())
    listeners.add(update)
    return () => void listeners.delete(update)
  }, [])
  return runs
}

export function runPath(runId: string): string {
  return `/track/runs/${encodeURIComponent(runId)}`
}

/** Whether a path matches what was typed in a "find" box: a case-insensitive regular expression, or plain text
 * while the expression does not parse (half-typed); everything when the box is empty. */
export function pathMatcher(filter: string): (path: string) => boolean {
  if (!filter) return () => true
  try {
    const re = new RegExp(filter, 'i')
    return (path) => re.test(path)
  } catch {
    return (path) => path.includes(filter)
  }
}
