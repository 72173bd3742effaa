import type { ReactNode } from 'react'

// A safe subset of Markdown drawn as React elements: headings, paragraphs, emphasis, lists, code and links. No HTML
// is ever parsed or injected: every character of the text ends up as text, so `<script>` reads as `<script>`.

const SAFE_LINK = /^(https?:\/\/|mailto:|\/|#)/i

/** Inline markup: `code`, **strong**, *emphasis* or _emphasis_, [text](url) (http, https, mailto, or a path here). */
export function inline(text: string, key = ''): ReactNode[] {
  const out: ReactNode[] = []
  const pattern = /`([^`]+)`|\*\*([^*]+)\*\*|\*([^*\s][^*]*)\*|_([^_\s][^_]*)_|\[([^\]]+)\]\(([^)\s]+)\)/g
  let last = 0
  let m: RegExpExecArray | null
  let n = 0
  while ((m = pattern.exec(text))) {
    if (m.index > last) out.push(text.slice(last, m.index))
    const k = `${key}.${n++}`
    if (m[1] !== undefined) out.push(<code key={k}>{m[1]}</code>)
    else if (m[2] !== undefined) out.push(<strong key={k}>{inline(m[2], k)}</strong>)
    else if (m[3] !== undefined || m[4] !== undefined) out.push(<em key={k}>{inline(m[3] ?? m[4], k)}</em>)
    else if (SAFE_LINK.test(m[6])) out.push(<a key={k} href={m[6]} target="_blank" rel="noopener noreferrer">{inline(m[5], k)}</a>)
    else out.push(m[0])
    last = pattern.lastIndex
  }
  if (last < text.length) out.push(text.slice(last))
  return out
}

/** The block structure: fenced code, headings, lists (- * or 1.), paragraphs separated by blank lines. */
export function markdown(text: string): ReactNode[] {
  const lines = text.replace(/\r\n?/g, '\n').split('\n')
  const out: ReactNode[] = []
  let i = 0
  while (i < lines.length) {
    const line = lines[i]
    const key = `b${i}`
    if (/^```/.test(line)) {
      const code: string[] = []
      i++
      while (i < lines.length && !/^```/.test(lines[i])) code.push(lines[i++])
      i++
      out.push(<pre key={key}><code>{code.join('\n')}</code></pre>)
      continue
    }
    const heading = /^(#{1,6})\s+(.*)$/.exec(line)
    if (heading) {
      const level = Math.min(6, heading[1].length + 1) // the block's title is above: # is an h2
      const Tag = `h${level}` as 'h2'
      out.push(<Tag key={key}>{inline(heading[2], key)}</Tag>)
      i++
      continue
    }
    const bullet = /^\s*([-*]|\d+[.)])\s+/
    if (bullet.test(line)) {
      const ordered = /^\s*\d/.test(line)
      const items: ReactNode[] = []
      while (i < lines.length && bullet.test(lines[i]) && /^\s*\d/.test(lines[i]) === ordered) {
        items.push(<li key={i}>{inline(lines[i].replace(bullet, ''), `${key}.${i}`)}</li>)
        i++
      }
      out.push(ordered ? <ol key={key}>{items}</ol> : <ul key={key}>{items}</ul>)
      continue
    }
    if (!line.trim()) {
      i++
      continue
    }
    const paragraph: string[] = []
    while (i < lines.length && lines[i].trim() && !/^(```|#{1,6}\s)/.test(lines[i]) && !bullet.test(lines[i])) paragraph.push(lines[i++])
    out.push(<p key={key}>{inline(paragraph.join(' '), key)}</p>)
  }
  return out
}

export function MarkdownBlock({ text }: { text: string }) {
  return <div className="block-markdown" data-drawn="yes">{markdown(text)}</div>
}
