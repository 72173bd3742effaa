import { useEffect, useMemo, useState } from 'react'
import { api, ApiError, unwrap } from '../../../api/client'
import { escapeRegex, QueryError } from '../NqlBar'
import { useAttributes } from './attributes'
import { seriesRef } from './lines'
import { suggestionKey, SuggestionList, useSuggestingInput } from '../Suggestions'

/** The formula functions (docs/track-formulas.md) with how they are called. */
export const FORMULA_FUNCTIONS: { name: string; call: string }[] = [
  { name: 'ema', call: 'ema(x, alpha)' }, { name: 'sma', call: 'sma(x, window)' },
  { name: 'gaussian', call: 'gaussian(x, sigma)' }, { name: 'diff', call: 'diff(x)' }, { name: 'rate', call: 'rate(x)' },
  { name: 'cumsum', call: 'cumsum(x)' }, { name: 'cummin', call: 'cummin(x)' }, { name: 'cummax', call: 'cummax(x)' },
  { name: 'normalize', call: 'normalize(x)' }, { name: 'log', call: 'log(x)' }, { name: 'log10', call: 'log10(x)' },
  { name: 'exp', call: 'exp(x)' }, { name: 'sqrt', call: 'sqrt(x)' }, { name: 'abs', call: 'abs(x)' },
  { name: 'clip', call: 'clip(x, lo, hi)' }, { name: 'min', call: 'min(x, y) · min(…) over a group' },
  { name: 'max', call: 'max(x, y) · max(…) over a group' }, { name: 'mean', call: 'mean(…) over a group' },
  { name: 'median', call: 'median(…) over a group' }, { name: 'std', call: 'std(…) over a group' },
]

type Suggestion = { label: string; hint: string; insert: string; from: number }
export type FormulaState = { ok: boolean; checking: boolean }

/** What is being typed at the caret: inside an unclosed `${`, a series path; else a function name. */
export function formulaContext(before: string): { kind: 'series' | 'function'; prefix: string; from: number } {
  const open = before.lastIndexOf('${')
  if (open >= 0 && before.indexOf('}', open) < 0) return { kind: 'series', prefix: before.slice(open + 2), from: open + 2 }
  const word = /[A-Za-z_][A-Za-z0-9_]*$/.exec(before)
  return { kind: 'function', prefix: word ? word[0] : '', from: word ? word.index : before.length }
}

/** A formula input: suggests the project's float series inside `${…}` and the functions elsewhere (↑/↓, Tab or a
 * click takes one), checks the formula with the server as you type, and shows its refusal at the character it names. */
export function FormulaEditor({ value, onChange, onState, label = 'Formula' }: {
  value: string
  onChange: (text: string) => void
  onState?: (state: FormulaState) => void
  label?: string
}) {
  const { caret, open, setOpen, active, setActive, props, insert } = useSuggestingInput(value, onChange)
  const [error, setError] = useState<{ message: string; position: number | null; query: string } | null>(null)
  const [checked, setChecked] = useState<{ references: string[]; functions: string[]; text: string } | null>(null)

  const context = formulaContext(value.slice(0, caret))
  const wantsSeries = open && context.kind === 'series'
  const { found } = useAttributes(wantsSeries ? `^${escapeRegex(context.prefix)}` : '', ['floatSeries'], 20, wantsSeries)
  const suggestions = useMemo<Suggestion[]>(() => {
    if (!open) return []
    if (context.kind === 'series') {
      return (found ?? []).map((a) => ({ label: a.path, hint: `${a.runs} runs`, insert: `${seriesRef(a.path).slice(2)}`,
        from: context.from }))
    }
    if (value.slice(0, caret).endsWith('$') || !context.prefix) return []
    return FORMULA_FUNCTIONS.filter((f) => f.name.startsWith(context.prefix.toLowerCase()))
      .map((f) => ({ label: f.name, hint: f.call, insert: `${f.name}(`, from: context.from }))
  }, [open, context.kind, context.prefix, context.from, found]) // eslint-disable-line react-hooks/exhaustive-deps
  useEffect(() => setActive(0), [suggestions, setActive])

  // the server's parser checks what is typed, a moment after the last key
  useEffect(() => {
    const text = value.trim()
    if (!text) {
      setError(null)
      setChecked(null)
      onState?.({ ok: false, checking: false })
      return
    }
    onState?.({ ok: false, checking: true })
    const controller = new AbortController()
    const timer = window.setTimeout(() => {
      unwrap(api.POST('/api/track/formula/check', { body: { formula: value }, signal: controller.signal })).then((answer) => {
        setError(null)
        setChecked({ references: answer.references, functions: answer.functions, text: value })
        onState?.({ ok: true, checking: false })
      }, (err: unknown) => {
        if (controller.signal.aborted) return
        setChecked(null)
        const position = err instanceof ApiError && typeof err.details.position === 'number' ? err.details.position : null
        setError({ message: err instanceof Error ? err.message : String(err), position, query: value })
        onState?.({ ok: false, checking: false })
      })
    }, 250)
    return () => {
      controller.abort()
      window.clearTimeout(timer)
    }
  }, [value]) // eslint-disable-line react-hooks/exhaustive-deps

  const accept = (s: Suggestion) => insert(s.from, s.insert)
  const showing = open && suggestions.length > 0
  return (
    <div className="formula-editor">
      <div className="nql-input">
        <input {...props} aria-label={label} className={error ? 'has-error' : ''}
          placeholder="e.g. ema(${train/loss}, 0.1) / ${train/lr}"
          onKeyDown={(e) => {
            if (showing) {
              suggestionKey(e, { items: suggestions, active, setActive, accept, close: () => setOpen(false),
                takeKeys: ['Tab', 'Enter'] })
            }
          }} />
        {showing && <SuggestionList items={suggestions} active={active} accept={accept} label="Formula suggestions" />}
      </div>
      {error && <QueryError {...error} what="formula" />}
      {checked && checked.text === value && (
        <div className="small formula-ok" role="status">✓ uses {checked.references.join(', ') || 'no series'}
          {checked.functions.length > 0 && ` · ${checked.functions.join(', ')}`}</div>
      )}
    </div>
  )
}
