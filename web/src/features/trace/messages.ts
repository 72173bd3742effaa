// LLM inputs and outputs in the shapes clients send them, read as one list of chat messages.
import { parseJson } from '../../components/JsonView'

export type ToolCallPart = { name: string; arguments: string; id?: string }
export type Message = { role: string; text: string; toolCalls: ToolCallPart[] }

/** Messages from a payload: OpenAI/Anthropic-style lists, GenAI semconv `parts`, `{messages: […]}`, or text. */
export function toMessages(payload: string, fallbackRole: string): Message[] | null {
  if (!payload) return null
  const value = parseJson(payload)
  if (value === undefined) return [{ role: fallbackRole, text: payload, toolCalls: [] }]
  if (typeof value === 'string') return [{ role: fallbackRole, text: value, toolCalls: [] }]
  const list = Array.isArray(value) ? value : (value as { messages?: unknown }).messages
  if (Array.isArray(list) && list.length && list.every(isMessageLike)) {
    return list.map((m) => toMessage(m as Record<string, unknown>, fallbackRole))
  }
  if (isMessageLike(value)) return [toMessage(value as Record<string, unknown>, fallbackRole)]
  const choices = (value as { choices?: unknown }).choices
  if (Array.isArray(choices) && choices.length) {
    const first = (choices[0] as { message?: unknown }).message
    if (isMessageLike(first)) return [toMessage(first as Record<string, unknown>, fallbackRole)]
  }
  return null
}

function isMessageLike(value: unknown): boolean {
  return typeof value === 'object' && value !== null && ('role' in value) &&
    ('content' in value || 'parts' in value || 'tool_calls' in value || 'text' in value)
}

function toMessage(raw: Record<string, unknown>, fallbackRole: string): Message {
  const toolCalls: ToolCallPart[] = []
  const texts: string[] = []
  const collect = (part: unknown) => {
    if (typeof part === 'string') texts.push(part)
    else if (part && typeof part === 'object') {
      const p = part as Record<string, unknown>
      if (p.type === 'tool_call' || p.type === 'tool_use' || p.type === 'function_call') {
        toolCalls.push({ name: String(p.name ?? ''), arguments: stringify(p.arguments ?? p.input), id: p.id ? String(p.id) : undefined })
      } else if (p.type === 'tool_call_response' || p.type === 'tool_result') {
        texts.push(stringify(p.response ?? p.result ?? p.content))
      } else if (typeof p.text === 'string') texts.push(p.text)
      else if (typeof p.content === 'string') texts.push(p.content)
      else texts.push(stringify(p))
    }
  }
  const content = raw.content ?? raw.parts ?? raw.text
  if (Array.isArray(content)) content.forEach(collect)
  else if (content !== undefined && content !== null) collect(content)
  const calls = raw.tool_calls
  if (Array.isArray(calls)) {
    for (const call of calls as Record<string, unknown>[]) {
      const fn = (call.function ?? call) as Record<string, unknown>
      toolCalls.push({ name: String(fn.name ?? ''), arguments: stringify(fn.arguments), id: call.id ? String(call.id) : undefined })
    }
  }
  return { role: String(raw.role ?? fallbackRole), text: texts.join('\n'), toolCalls }
}

function stringify(value: unknown): string {
  if (value === undefined || value === null) return ''
  return typeof value === 'string' ? value : JSON.stringify(value, null, 2)
}
