// Time ranges as the URL keeps them: `range=24h`, or `from`/`to` for a custom window.

export const RANGES: Record<string, number> = {
  '15m': 15 * 60_000, '1h': 3_600_000, '6h': 6 * 3_600_000, '24h': 86_400_000, '7d': 7 * 86_400_000,
  '30d': 30 * 86_400_000,
}

/** [from, to] as ISO strings for the API; `now` is passed in so a page keeps one window while it pages. */
export function windowOf(params: URLSearchParams, now: number, fallback = '24h'): { from: string; to: string } {
  const from = params.get('from')
  const to = params.get('to')
  if (from && to) return { from, to }
  const span = RANGES[params.get('range') ?? fallback] ?? RANGES[fallback]
  return { from: new Date(now - span).toISOString(), to: new Date(now).toISOString() }
}

export function TimeRangePicker({ params, onChange, fallback = '24h' }: {
  params: URLSearchParams
  onChange: (next: URLSearchParams) => void
  fallback?: string
}) {
  const custom = params.get('from') && params.get('to')
  const value = custom ? 'custom' : params.get('range') ?? fallback
  return (
    <label className="field">
      <span>Time</span>
      <select
        aria-label="Time range"
        value={value}
        onChange={(e) => {
          const next = new URLSearchParams(params)
          next.delete('from')
          next.delete('to')
          next.set('range', e.target.value)
          onChange(next)
        }}
      >
        {Object.keys(RANGES).map((r) => <option key={r} value={r}>Last {r}</option>)}
        {custom && <option value="custom">Custom</option>}
      </select>
    </label>
  )
}
