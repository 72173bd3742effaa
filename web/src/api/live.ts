// Server-Sent Events over fetch (EventSource cannot send the Authorization header).
import { currentKey, errorOf, type TraceSummary } from './client'

/** `event: trace`: the root span of a trace just written (its totals come with the next list refresh). */
export type LiveTrace = Pick<TraceSummary, 'trace_id' | 'name' | 'status' | 'start_time' | 'service' | 'session_id' |
  'user_id' | 'agent_id' | 'agent_version' | 'environment'> & { span_id: string; duration_ns: number }

export type LiveHandlers = {
  onTrace: (trace: LiveTrace) => void
  onSpans: (traceIds: string[]) => void
  onState: (state: 'connecting' | 'live' | 'retrying', error?: string) => void
}

/** Follow new traces until the signal aborts; reconnects after a dropped connection. */
export async function followTraces(params: URLSearchParams, handlers: LiveHandlers, signal: AbortSignal) {
  while (!signal.aborted) {
    handlers.onState('connecting')
    try {
      const response = await fetch(`/api/live/traces?${params}`, {
        headers: { Authorization: `Bearer ${currentKey()}`, Accept: 'text/event-stream' },
        signal,
      })
      if (!response.ok || !response.body) {
        const body = await response.json().catch(() => undefined)
        throw errorOf(response, body)
      }
      handlers.onState('live')
      await readEvents(response.body, (event, parsed) => {
        if (event === 'trace') handlers.onTrace(parsed as LiveTrace)
        else if (event === 'spans') handlers.onSpans((parsed as { trace_ids: string[] }).trace_ids)
      }, signal)
    } catch (err) {
      if (signal.aborted) return
      handlers.onState('retrying', err instanceof Error ? err.message : String(err))
    }
    await new Promise((resolve) => setTimeout(resolve, 2000))
  }
}

/** Hand each `event:`/`data:` block of a Server-Sent Events body to `onEvent` until the body ends or the signal
 * aborts; comment lines (keepalives) are skipped. */
export async function readEvents(body: ReadableStream<Uint8Array>, onEvent: (event: string, data: unknown) => void,
  signal: AbortSignal) {
  const reader = body.pipeThrough(new TextDecoderStream() as unknown as TransformStream<Uint8Array, string>).getReader()
  let buffer = ''
  signal.addEventListener('abort', () => void reader.cancel())
  for (;;) {
    const { value, done } = await reader.read()
    if (done) return
    buffer += value
    let end: number
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end)
      buffer = buffer.slice(end + 2)
      let event = 'message'
      const data: string[] = []
      for (const line of block.split('\n')) {
        if (line.startsWith('event:')) event = line.slice(6).trim()
        else if (line.startsWith('data:')) data.push(line.slice(5).trim())
      }
      if (!data.length) continue
      onEvent(event, JSON.parse(data.join('\n')) as unknown)
    }
  }
}
