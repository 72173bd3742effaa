import { useCallback, useEffect, useRef, useState } from 'react'

export type QueryState<T> = {
  data: T | undefined
  error: Error | undefined
  loading: boolean
  reload: () => void
}

/** Run `load` when `key` changes (aborting the previous run); errors are kept for the page to show. */
export function useQuery<T>(key: string, load: (signal: AbortSignal) => Promise<T>): QueryState<T> {
  const [state, setState] = useState<{ data?: T; error?: Error; loading: boolean }>({ loading: true })
  const [nonce, setNonce] = useState(0)
  const loader = useRef(load)
  loader.current = load
  useEffect(() => {
    const controller = new AbortController()
    setState((s) => ({ data: s.data, loading: true }))
    loader.current(controller.signal).then(
      (data) => !controller.signal.aborted && setState({ data, loading: false }),
      (error: unknown) => {
        if (controller.signal.aborted) return
        setState({ error: error instanceof Error ? error : new Error(String(error)), loading: false })
      },
    )
    return () => controller.abort()
  }, [key, nonce])
  const reload = useCallback(() => setNonce((n) => n + 1), [])
  return { data: state.data, error: state.error, loading: state.loading, reload }
}
