import type { ReactNode } from 'react'
import { Link } from 'react-router'
import { ApiError } from '../api/client'

/** An error as the user should see it: what failed, the server's message, and what to do about a bad key. */
export function ErrorBox({ error, what, retry }: { error: Error; what: string; retry?: () => void }) {
  const unauthorized = error instanceof ApiError && error.status === 401
  return (
    <div className="error-box" role="alert">
      <strong>Could not load {what}.</strong> <span className="error-message">{error.message}</span>
      {unauthorized && <> — <Link to="/connect">connect with another key</Link></>}
      {retry && <button className="link" onClick={retry}>Try again</button>}
    </div>
  )
}

export function Empty({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="empty">
      <h2>{title}</h2>
      {children}
    </div>
  )
}

export function Spinner({ label = 'Loading…' }: { label?: string }) {
  return <div className="spinner" aria-live="polite">{label}</div>
}
