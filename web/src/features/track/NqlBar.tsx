import { useEffect, useRef, useState } from 'react'
import { api, unwrap } from '../../api/client'

const OPERATORS = ['==', '!=', '>', '>=', '<', '<=', 'MATCHES', 'NOT MATCHES', 'CONTAINS', 'NOT CONTAINS', 'EXISTS',
  'NOT EXISTS']
const JOINS = ['AND', 'OR']
const AGGREGATES = ['last', 'min', 'max', 'average', 'variance']
const BARE = /^[A-Za-z0-9_\-/.:]+$/

type Expect = 'attr' | 'op' | 'value' | 'join'
type Suggestion = { label: string; insert: string; hint?: string }

/** What the query expects at the end of `text`: an attribute, an operator, a value or AND/OR; and the word being
 * typed there. A rough reading of NQL, enough to suggest the next word (the server has the real parser). */
export function expectation(text: string): { expect: Expect; prefix: string; start: number } {
  const ticks = (text.match(/`/g) ?? []).length
  if (ticks % 2 === 1) {
    const start = text.lastIndexOf('`')
    return { expect: 'attr', prefix: text.slice(start + 1), start }
  }
  const partial = /[A-Za-z0-9_\-/.:!=<>]*$/.exec(text)
  const start = partial ? partial.index : text.length
  const before = text.slice(0, start)
  const tokens: string[] = before.match(/`[^`]*`(:[A-Za-z]+)?|"(?:[^"\\]|\\.)*"|==|!=|>=|<=|[=<>()]|[A-Za-z0-9_\-/.:]+/g) ?? []
  let state = 'attr' as Expect
  const parens: boolean[] = []
  tokens.forEach((token, i) => {
    const word = token.toUpperCase()
    if (token === '(') {
      parens.push(state === 'attr' && i > 0 && AGGREGATES.includes(tokens[i - 1].toLowerCase()))
      state = 'attr'
    } else if (token === ')') {
      state = parens.pop() ? 'op' : 'join'
    } else if (state === 'attr') {
      if (word === 'NOT') state = 'attr'
      else if (AGGREGATES.includes(token.toLowerCase()) && tokens[i + 1] === '(') state = 'attr'
      else state = 'op'
    } else if (state === 'op') {
      if (word === 'NOT') state = 'op'
      else if (word === 'EXISTS') state = 'join'
      else state = 'value'
    } else if (state === 'value') {
      state = 'join'
    } else if (word === 'AND' || word === 'OR') {
      state = 'attr'
    }
  })
  return { expect: state, prefix: text.slice(start), start }
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

/** The NQL filter: suggests attribute names (from the project), operators and AND/OR as you type; a query the
 * server refuses is shown with its message and a mark at the character it names. */
export function NqlBar({ value, onSubmit, error }: {
  value: string
  onSubmit: (query: string) => void
  error: { message: string; position: number | null; query: string } | null
}) {
  const [text, setText] = useState(value)
  const [caret, setCaret] = useState(value.length)
  const [open, setOpen] = useState(false)
  const [active, setActive] = useState(0)
  const [suggestions, setSuggestions] = useState<Suggestion[]>([])
  const input = useRef<HTMLInputElement>(null)
  useEffect(() => setText(value), [value])

  const context = expectation(text.slice(0, caret))
  const contextKey = `${context.expect}|${context.prefix}`
  useEffect(() => {
    if (!open) return
    const { expect, prefix } = expectation(text.slice(0, caret))
    if (expect === 'op' || expect === 'join') {
      const words = expect === 'op' ? OPERATORS : JOINS
      setSuggestions(words.filter((w) => w.toLowerCase().startsWith(prefix.toLowerCase()))
        .map((w) => ({ label: w, insert: `${w} ` })))
      setActive(0)
      return
    }
    if (expect !== 'attr') {
      setSuggestions([])
      return
    }
    const controller = new AbortController()
    const timer = window.setTimeout(() => {
      unwrap(api.GET('/api/track/attributes', {
        params: { query: { regex: prefix ? `^${escapeRegex(prefix)}` : '', limit: 20 } }, signal: controller.signal,
      })).then((found) => {
        const inQuotes = (text.slice(0, caret).match(/`/g) ?? []).length % 2 === 1
        setSuggestions(found.attributes.map((a) => ({
          label: a.path, hint: a.types.map((t) => t.type).join(', '),
          insert: inQuotes ? `${a.path}\` ` : BARE.test(a.path) ? `${a.path} ` : `\`${a.path}\` `,
        })))
        setActive(0)
      }, () => undefined)
    }, 120)
    return () => {
      controller.abort()
      window.clearTimeout(timer)
    }
  }, [contextKey, open])

  const accept = (s: Suggestion) => {
    const start = context.expect === 'attr' && (text.slice(0, caret).match(/`/g) ?? []).length % 2 === 1
      ? context.start + 1 : context.start
    const next = text.slice(0, start) + s.insert + text.slice(caret)
    const at = start + s.insert.length
    setText(next)
    setCaret(at)
    window.requestAnimationFrame(() => {
      input.current?.focus()
      input.current?.setSelectionRange(at, at)
    })
  }

  const showing = open && suggestions.length > 0
  return (
    <form className="filter-bar nql-bar" onSubmit={(e) => {
      e.preventDefault()
      setOpen(false)
      onSubmit(text.trim())
    }}>
      <div className="filter-row">
        <div className="nql-input">
          <input ref={input} value={text} aria-label="NQL query" spellCheck={false} autoComplete="off"
            placeholder='Filter runs with NQL, e.g. config/lr > 0.001 AND sys/tags CONTAINS "best"'
            className={error ? 'has-error' : ''}
            onChange={(e) => {
              setText(e.target.value)
              setCaret(e.target.selectionStart ?? e.target.value.length)
              setOpen(true)
            }}
            onSelect={(e) => setCaret(e.currentTarget.selectionStart ?? 0)}
            onFocus={() => setOpen(true)}
            onBlur={() => window.setTimeout(() => setOpen(false), 150)}
            onKeyDown={(e) => {
              if (!showing) return
              if (e.key === 'ArrowDown') {
                e.preventDefault()
                setActive((active + 1) % suggestions.length)
              } else if (e.key === 'ArrowUp') {
                e.preventDefault()
                setActive((active - 1 + suggestions.length) % suggestions.length)
              } else if (e.key === 'Tab') {
                e.preventDefault()
                accept(suggestions[active])
              } else if (e.key === 'Escape') {
                setOpen(false)
              }
            }} />
          {showing && (
            <ul className="suggestions" role="listbox" aria-label="Suggestions">
              {suggestions.map((s, i) => (
                <li key={s.label} role="option" aria-selected={i === active} className={i === active ? 'active' : ''}
                  onMouseDown={(e) => {
                    e.preventDefault()
                    accept(s)
                  }}>
                  <span>{s.label}</span>{s.hint && <span className="muted small">{s.hint}</span>}
                </li>
              ))}
            </ul>
          )}
        </div>
        <button type="submit" className="primary">Filter</button>
        {value && <button type="button" onClick={() => onSubmit('')}>Clear</button>}
      </div>
      {error && <QueryError {...error} />}
    </form>
  )
}

function QueryError({ message, position, query }: { message: string; position: number | null; query: string }) {
  return (
    <div className="nql-error" role="alert">
      <span className="error-message">{message}</span>
      {position !== null && (
        <pre className="nql-where" aria-label="Where the query is wrong">
          {query.slice(0, position)}<mark>{query.slice(position, position + 1) || ' '}</mark>{query.slice(position + 1)}
        </pre>
      )}
    </div>
  )
}
