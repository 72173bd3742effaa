import { useState } from 'react'

/** A code snippet with a copy button. */
export function CopyBlock({ code, label }: { code: string; label?: string }) {
  const [copied, setCopied] = useState(false)
  return (
    <div className="copy-block">
      {label && <div className="copy-label">{label}</div>}
      <pre><code>{code}</code></pre>
      <button
        className="copy-button"
        onClick={() => {
          void navigator.clipboard?.writeText(code).then(() => {
            setCopied(true)
            setTimeout(() => setCopied(false), 1500)
          })
        }}
      >
        {copied ? 'Copied' : 'Copy'}
      </button>
    </div>
  )
}
