import { runColor } from '../runs'

/** Which one of several runs a single-run block shows. */
export function RunPicker({ runIds, value, onChange }: { runIds: string[]; value: string; onChange: (runId: string) => void }) {
  if (runIds.length < 2) return null
  return (
    <label className="small run-picker">
      <span className="run-swatch" style={{ background: runColor(value) }} aria-hidden />{' '}
      <select aria-label="Run" value={value} onChange={(e) => onChange(e.target.value)}>
        {runIds.map((id) => <option key={id} value={id}>{id}</option>)}
      </select>
    </label>
  )
}
