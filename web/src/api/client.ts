// The typed API client: paths and shapes come from the server's OpenAPI document (npm run gen:api).
import createClient, { type Middleware } from 'openapi-fetch'
import type { components, paths } from './schema'

export type Schemas = components['schemas']
export type TraceSummary = Schemas['TraceSummary']
export type Span = Schemas['Span']
export type SpanPayload = Schemas['SpanPayload']
export type Analytics = Schemas['Analytics']
export type Session = Schemas['Session']
export type Score = Schemas['ScoreOut']
export type ApiKey = Schemas['ApiKeyOut']
export type EvalRun = Schemas['EvalRun']
export type EvalRunDetail = Schemas['EvalRunDetail']
export type CaseResult = Schemas['CaseResult']
export type CaseScore = Schemas['CaseScore']
export type Comparison = Schemas['Comparison']
export type Dataset = Schemas['Dataset']
export type DatasetItem = Schemas['DatasetItem']
/** The body of every error answer of the API: {"error": {"code", "message"}}. */
export type ErrorBody = Schemas['ErrorBody']

/** An answer other than 2xx, with the server's own message ({"error": {"code", "message"}}). */
export class ApiError extends Error {
  readonly status: number
  readonly code: string
  /** What the error body carries beside code and message, e.g. a query's `position`. */
  readonly details: Record<string, unknown>
  constructor(status: number, message: string, code = '', details: Record<string, unknown> = {}) {
    super(message)
    this.status = status
    this.code = code
    this.details = details
  }
}

let apiKey = ''

/** The key every request carries (the browser keeps it; see auth.ts). */
export function setApiKey(key: string): void {
  apiKey = key
}

export function currentKey(): string {
  return apiKey
}

const withKey: Middleware = {
  onRequest({ request }) {
    if (apiKey) request.headers.set('Authorization', `Bearer ${apiKey}`)
    return request
  },
}

export const api = createClient<paths>({ baseUrl: window.location.origin })
api.use(withKey)

type Answer<T> = { data?: T; error?: unknown; response: Response }

/** The answer's data, or an ApiError that says what went wrong. */
export async function unwrap<T>(pending: Promise<Answer<T>>): Promise<T> {
  let answer: Answer<T>
  try {
    answer = await pending
  } catch (err) {
    if (err instanceof DOMException && err.name === 'AbortError') throw err
    throw new ApiError(0, `cannot reach the Neon server (${String(err)})`)
  }
  if (answer.error !== undefined || !answer.response.ok) {
    throw errorOf(answer.response, answer.error)
  }
  return answer.data as T
}

export function errorOf(response: Response, body: unknown): ApiError {
  const detail = (body as Partial<ErrorBody> | undefined)?.error
  const message = detail?.message ?? `${response.status} ${response.statusText}`
  return new ApiError(response.status, message, detail?.code ?? '', { ...detail })
}
export type AgentSummary = Schemas['AgentSummary']
export type AgentVersion = Schemas['AgentVersion']
export type SpecChange = Schemas['SpecChange']
export type AgentRun = Schemas['RunOut']
export type AgentRunDetail = Schemas['RunDetail']
export type AgentStep = Schemas['StepOut']
export type AgentApproval = Schemas['ApprovalOut']
export type PendingApproval = Schemas['PendingApprovalOut']
