import { runColor, valueText } from '../runs'
import type { RunsInView, ValueOptions } from './spec'
import { refText, useRunValues } from './values'

/** One big number per run: an attribute or a series aggregate. */
export function ValueBlock({ options, runs }: { options: ValueOptions; runs: RunsInView }) {
  const { data, error } = useRunValues(runs, [options.value])
  if (!options.value.path) return <p className="muted small">Choose a value.</p>
  if (error) return <div className="nql-error small">{error.message}</div>
  return (
    <div className="block-value" data-drawn={data ? 'yes' : 'no'}>
      <div className="muted small">{refText(options.value)}</div>
      <ul className="value-runs">
        {(data ?? []).map((r) => (
          <li key={r.runId} data-run-id={r.runId}>
            <span className="big-value">{r.values[0] === null ? '–' : valueText(r.values[0])}</span>
            <span className="small"><span className="run-swatch" style={{ background: runColor(r.runId) }} aria-hidden /> {r.runId}</span>
          </li>
        ))}
      </ul>
    </div>
  )
}
