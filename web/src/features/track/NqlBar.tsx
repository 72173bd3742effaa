import { useEffect, useState } from 'react'
import { api, unwrap } from '../../api/client'
import { suggestionKey, SuggestionList, useSuggestingInput } from './Suggestions'

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

export function escapeRegex(text: string): string {
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
  const { caret, open, setOpen, active, setActive, props, insert } = useSuggestingInput(text, setText)
  const [suggestions, setSuggestions] = useState<Suggestion[]>([])
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
    insert(start, s.insert)
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
          <input {...props} aria-label="NQL query"
            placeholder='Filter runs with NQL, e.g. config/lr > 0.001 AND sys/tags CONTAINS "best"'
            className={error ? 'has-error' : ''}
            onKeyDown={(e) => {
              if (showing) suggestionKey(e, { items: suggestions, active, setActive, accept, close: () => setOpen(false) })
            }} />
          {showing && <SuggestionList items={suggestions} active={active} accept={accept} label="Suggestions" />}
        </div>
        <button type="submit" className="primary">Filter</button>
        {value && <button type="button" onClick={() => onSubmit('')}>Clear</button>}
      </div>
      {error && <QueryError {...error} />}
    </form>
  )
}

/** A server's refusal of typed text: its message, and the text with the character it names marked. */
export function QueryError({ message, position, query, what = 'query' }: {
  message: string
  position: number | null
  query: string
  what?: string
}) {
  return (
    <div className="nql-error" role="alert">
      <span className="error-message">{message}</span>
      {position !== null && (
        <pre className="nql-where" aria-label={`Where the ${what} is wrong`}>
          {query.slice(0, position)}<mark>{query.slice(position, position + 1) || ' '}</mark>{query.slice(position + 1)}
        </pre>
      )}
    </div>
  )
}
