import { useCallback, useState } from 'react'
import { ApiError } from '../../../api/client'

/** An action whose failure is said in a line on the page (the server's message) rather than thrown. */
export function useNotice(): { notice: string | null; act: (what: () => Promise<void>) => Promise<void> } {
  const [notice, setNotice] = useState<string | null>(null)
  const act = useCallback(async (what: () => Promise<void>) => {
    try {
      await what()
      setNotice(null)
    } catch (err) {
      setNotice(err instanceof ApiError ? err.message : String(err))
    }
  }, [])
  return { notice, act }
}
