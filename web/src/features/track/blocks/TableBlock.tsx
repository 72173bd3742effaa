import { runColor, valueText } from '../runs'
import type { RunsInView, TableOptions } from './spec'
import { refText, useRunValues } from './values'

/** Runs as rows, the chosen attributes and series aggregates as columns. */
export function TableBlock({ options, runs }: { options: TableOptions; runs: RunsInView }) {
  const { data, error } = useRunValues(runs, options.columns)
  const columns = options.columns.filter((c) => c.path)
  if (!columns.length) return <p className="muted small">Choose columns.</p>
  if (error) return <div className="nql-error small">{error.message}</div>
  return (
    <div className="block-table" data-drawn={data ? 'yes' : 'no'}>
      <table className="plain-table small">
        <thead><tr><th>Run</th>{columns.map((c) => <th key={refText(c)}>{refText(c)}</th>)}</tr></thead>
        <tbody>
          {(data ?? []).map((r) => (
            <tr key={r.runId} data-run-id={r.runId}>
              <td className="nowrap"><span className="run-swatch" style={{ background: runColor(r.runId) }} aria-hidden /> {r.runId}</td>
              {columns.map((c, i) => <td key={refText(c)} className="num">{valueText(r.values[i])}</td>)}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  )
}
