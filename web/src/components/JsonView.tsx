import { useState } from 'react'

/** Text as collapsible JSON when it parses, as preformatted text when it does not. */
export function Payload({ text, empty = 'empty' }: { text: string; empty?: string }) {
  if (!text) return <div className="muted">{empty}</div>
  const parsed = parseJson(text)
  if (parsed === undefined || typeof parsed !== 'object' || parsed === null) {
    return <pre className="payload-text">{typeof parsed === 'string' ? parsed : text}</pre>
  }
  return <JsonTree value={parsed} />
}

export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown
  } catch {
    return undefined
  }
}

/** `openTo`: nodes shallower than this start open. */
export function JsonTree({ value, depth = 0, openTo = 2 }: { value: unknown; depth?: number; openTo?: number }) {
  return (
    <div className="json">
      <JsonNode value={value} depth={depth} openTo={openTo} />
    </div>
  )
}

function JsonNode({ name, value, depth, openTo }: { name?: string; value: unknown; depth: number; openTo: number }) {
  const [open, setOpen] = useState(depth < openTo)
  const label = name !== undefined ? <span className="json-key">{name}: </span> : null
  if (value === null || typeof value !== 'object') {
    return (
      <div className="json-row">
        {label}
        <span className={`json-${value === null ? 'null' : typeof value}`}>{JSON.stringify(value)}</span>
      </div>
    )
  }
  const entries = Array.isArray(value) ? value.map((v, i) => [String(i), v] as const) : Object.entries(value)
  const [openMark, closeMark] = Array.isArray(value) ? ['[', ']'] : ['{', '}']
  return (
    <div className="json-row">
      <button className="json-toggle" onClick={() => setOpen(!open)} aria-expanded={open}>
        {open ? '▾' : '▸'}
      </button>
      {label}
      {openMark}
      {!open && <span className="muted"> {entries.length} {Array.isArray(value) ? 'items' : 'keys'} {closeMark}</span>}
      {open && (
        <>
          <div className="json-children">
            {entries.map(([k, v]) => <JsonNode key={k} name={k} value={v} depth={depth + 1} openTo={openTo} />)}
          </div>
          {closeMark}
        </>
      )}
    </div>
  )
}
