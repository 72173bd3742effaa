import { number } from '../runs'

/** A slider over the steps a series has: picks one of them (by index), and says which step it is. */
export function StepSlider({ steps, index, onChange, label }: {
  steps: number[]
  index: number
  onChange: (index: number) => void
  label: string
}) {
  if (steps.length < 2) return <div className="small muted step-label">step {steps.length ? number(steps[0]) : '–'}</div>
  return (
    <label className="small step-slider">
      <input type="range" aria-label={label} min={0} max={steps.length - 1} step={1} value={index}
        onChange={(e) => onChange(Number(e.target.value))} />
      <span className="step-label">step {number(steps[index])}</span>
      <span className="muted"> ({index + 1} of {steps.length})</span>
    </label>
  )
}
