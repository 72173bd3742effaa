// The suggestion list under a typed input (the NQL bar, the formula editor): ↑/↓ move, Tab (or a click) takes one.
import { useLayoutEffect, useRef, useState } from 'react'

/** An input that suggests as you type: where its caret is, whether its suggestions are open, which one is active,
 * the props the input needs, and `insert`, which replaces text from `from` to the caret and puts the caret after. */
export function useSuggestingInput(text: string, setText: (text: string) => void) {
  const input = useRef<HTMLInputElement>(null)
  const [caret, setCaret] = useState(text.length)
  const [open, setOpen] = useState(false)
  const [active, setActive] = useState(0)
  // where an insert put the caret: set as soon as React has written the new text, before the next key is handled
  // (set a frame later, a fast typist's next key landed before it and the caret jumped back behind it)
  const [placed, setPlaced] = useState<{ at: number } | null>(null)
  useLayoutEffect(() => {
    if (!placed) return
    input.current?.focus()
    input.current?.setSelectionRange(placed.at, placed.at)
  }, [placed])
  const props = {
    ref: input, value: text, spellCheck: false, autoComplete: 'off',
    onChange: (e: React.ChangeEvent<HTMLInputElement>) => {
      setText(e.target.value)
      setCaret(e.target.selectionStart ?? e.target.value.length)
      setOpen(true)
    },
    onSelect: (e: React.SyntheticEvent<HTMLInputElement>) => setCaret(e.currentTarget.selectionStart ?? 0),
    onFocus: () => setOpen(true),
    onBlur: () => window.setTimeout(() => setOpen(false), 150),
  }
  const insert = (from: number, inserted: string) => {
    const at = from + inserted.length
    setText(text.slice(0, from) + inserted + text.slice(caret))
    setCaret(at)
    setPlaced({ at })
  }
  return { caret, open, setOpen, active, setActive, props, insert }
}

export type Suggestion = { label: string; hint?: string }

/** Handles a key in the input while suggestions show: true when it was theirs. */
export function suggestionKey<S>(e: React.KeyboardEvent, { items, active, setActive, accept, close, takeKeys = ['Tab'] }: {
  items: S[]
  active: number
  setActive: (i: number) => void
  accept: (s: S) => void
  close: () => void
  takeKeys?: string[]
}): void {
  if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
    e.preventDefault()
    setActive((active + (e.key === 'ArrowDown' ? 1 : items.length - 1)) % items.length)
  } else if (takeKeys.includes(e.key)) {
    e.preventDefault()
    accept(items[active])
  } else if (e.key === 'Escape') {
    close()
  }
}

export function SuggestionList<S extends Suggestion>({ items, active, accept, label }: {
  items: S[]
  active: number
  accept: (s: S) => void
  label: string
}) {
  return (
    <ul className="suggestions" role="listbox" aria-label={label}>
      {items.map((s, i) => (
        <li key={s.label} role="option" aria-selected={i === active} className={i === active ? 'active' : ''}
          onMouseDown={(e) => {
            e.preventDefault()
            accept(s)
          }}>
          <span>{s.label}</span>{s.hint && <span className="muted small">{s.hint}</span>}
        </li>
      ))}
    </ul>
  )
}
