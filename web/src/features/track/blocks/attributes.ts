// The project's attribute and series names found by a regular expression, as the builder searches them.
import { useEffect, useState } from 'react'
import { api, unwrap } from '../../../api/client'
import type { components } from '../../../api/schema'
import type { AttributeName } from '../runs'

export type AttributeType = components['schemas']['TableColumn']['type'] & string

/** The names an RE2 `regex` finds among the project's attributes of `types` (all types when empty), asked a moment
 * after the last change; a regex the server refuses gives its message. */
export function useAttributes(regex: string, types: AttributeType[], limit = 50, enabled = true) {
  const [state, setState] = useState<{ found: AttributeName[] | null; error: string | null }>({ found: null, error: null })
  const key = `${regex}|${types.join(',')}|${limit}`
  useEffect(() => {
    if (!enabled) return
    const controller = new AbortController()
    const timer = window.setTimeout(() => {
      unwrap(api.GET('/api/track/attributes', {
        params: { query: { regex, ...(types.length ? { type: types } : {}), limit } }, signal: controller.signal,
      })).then((answer) => setState({ found: answer.attributes, error: null }), (err: unknown) => {
        if (!controller.signal.aborted) setState({ found: [], error: err instanceof Error ? err.message : String(err) })
      })
    }, 150)
    return () => {
      controller.abort()
      window.clearTimeout(timer)
    }
  }, [key, enabled]) // eslint-disable-line react-hooks/exhaustive-deps
  return state
}
