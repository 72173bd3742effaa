// How a score reads and looks in the eval screens: one colour scale (red 0 → green 1) everywhere.
import type { CaseResult, CaseScore, EvalRun } from '../../api/client'
import { score as fmtScore } from '../../lib/format'

/** The text of a score: its label for a categorical score, else its value; "error" when the scorer raised. */
export function scoreText(s: CaseScore): string {
  if (s.error) return 'error'
  if (s.value === null || s.value === undefined) return s.label || '–'
  return fmtScore(s.value)
}

/** Background of a value in [0, 1]: red for 0 through amber to green for 1. */
export function valueColor(value: number | null | undefined): string | undefined {
  if (value === null || value === undefined || Number.isNaN(value)) return undefined
  const v = Math.min(1, Math.max(0, value))
  return `hsl(${Math.round(v * 130)}, 62%, ${v >= 0.999 ? 90 : 88}%)`
}

/** The class and colour of a grid cell: errors and failed scorers stand out even without a value. */
export function cellLook(s: CaseScore | undefined): { className: string; background?: string } {
  if (!s) return { className: 'cell-missing' }
  if (s.error) return { className: 'cell-error' }
  if (s.value === null || s.value === undefined) {
    if (s.passed === true) return { className: 'cell-pass' }
    if (s.passed === false) return { className: 'cell-fail' }
    return { className: 'cell-label' }
  }
  return { className: s.passed === false ? 'cell-value cell-failed' : 'cell-value', background: valueColor(s.value) }
}

/** What a hover on a cell says. */
export function scoreTitle(s: CaseScore): string {
  const parts = [`${s.name}: ${scoreText(s)}`]
  if (s.passed !== null && s.passed !== undefined) parts.push(s.passed ? 'passed' : 'did not pass')
  if (s.error) parts.push(`scorer error: ${s.error}`)
  if (s.reason) parts.push(s.reason)
  return parts.join(' — ')
}

/** Scorer names in a stable order: as the run's summary lists them, then any others seen in the results. */
export function scorerNames(run: EvalRun, results: CaseResult[] = []): string[] {
  const names = Object.keys(run.summary?.scorers ?? {})
  for (const r of results) for (const s of r.scores) if (!names.includes(s.name)) names.push(s.name)
  return names
}

export type CaseOutcome = 'passed' | 'failed' | 'errored'

export function outcomeOf(r: CaseResult): CaseOutcome {
  if (r.error || r.scores.some((s) => s.error)) return 'errored'
  return r.passed ? 'passed' : 'failed'
}

/** Status badge class of a run status (the trace list's colours). */
export function runStatusClass(status: string): string {
  return status === 'completed' ? 'status-ok' : status === 'failed' ? 'status-error'
    : status === 'cancelled' ? 'status-cancelled' : 'status-running'
}
