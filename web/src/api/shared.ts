// A shared report's page has no API key: the Track data its blocks ask for goes to the report's share-link routes
// (/api/shared/reports/<token>/…), which answer for the report's own runs only.
import type { Middleware } from 'openapi-fetch'
import { api } from './client'

const SHARED = /^\/api\/track\/(buckets|formula|table|attributes|runs\/[^/]+|runs\/[^/]+\/points)$/
let reading: string | null = null

/** The share link's token while a shared report is open (files are then read through it), else null. */
export function shareToken(): string | null {
  return reading
}

/** Send Track's read requests through the share link while the returned function is not called. */
export function readThroughShareLink(token: string): () => void {
  const middleware: Middleware = {
    async onRequest({ request }) {
      const url = new URL(request.url)
      const match = SHARED.exec(url.pathname)
      if (!match) return request
      url.pathname = `/api/shared/reports/${encodeURIComponent(token)}/${match[1]}`
      const headers = new Headers(request.headers)
      headers.delete('Authorization')
      // the body is read here: a request cannot be remade around another one's body stream
      const body = request.method === 'GET' || request.method === 'HEAD' ? undefined : await request.text()
      return new Request(url, { method: request.method, headers, body, signal: request.signal })
    },
  }
  api.use(middleware)
  reading = token
  return () => {
    api.eject(middleware)
    reading = null
  }
}
