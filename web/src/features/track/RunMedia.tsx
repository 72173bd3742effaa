import { useMemo } from 'react'
import { BlockView } from './blocks/BlockView'
import { bytes } from './blocks/ImageBlock'
import { isFileRef } from './blocks/files'
import type { Block, RunsInView } from './blocks/spec'
import type { RunDetail } from './runs'

/** A run's histograms (each at a step chosen by a slider) and files (listed; each shown with a download button and
 * inline when it is an image, a file series with a slider over its steps), drawn as histogram and image blocks. */
export function RunMedia({ run }: { run: RunDetail }) {
  const runs = useMemo<RunsInView>(() => ({ runIds: [run.run_id], groups: [] }), [run.run_id])
  const histograms = Object.entries(run.series).filter(([, s]) => s.type === 'histogramSeries').map(([p]) => p).sort()
  const fileSeries = Object.entries(run.series).filter(([, s]) => s.type === 'fileRefSeries').map(([p]) => p).sort()
  const fileAttributes = Object.entries(run.attributes).filter(([, a]) => a.type === 'fileRef' && isFileRef(a.value))
    .map(([p]) => p).sort()
  const block = (type: 'histogram' | 'image', path: string) => ({
    id: `${type}:${path}`, type, title: path, layout: { x: 0, y: 0, w: 6, h: 4 }, options: { path },
  }) as Block
  return (
    <>
      {histograms.length > 0 && (
        <section className="run-histograms" aria-label="Histograms">
          <h2>Histograms <span className="muted small">{histograms.length}</span></h2>
          <div className="chart-grid track-charts">
            {histograms.map((path) => <BlockView key={path} block={block('histogram', path)} runs={runs} height={260} />)}
          </div>
        </section>
      )}
      {fileSeries.length + fileAttributes.length > 0 && (
        <section className="run-files" aria-label="Files">
          <h2>Files <span className="muted small">{fileSeries.length + fileAttributes.length}</span></h2>
          <table className="plain-table small file-list">
            <thead><tr><th>Path</th><th>Kind</th><th>Type</th><th className="num">Size</th></tr></thead>
            <tbody>
              {fileAttributes.map((path) => {
                const file = run.attributes[path].value as { mime_type?: string; size_bytes?: number }
                return (
                  <tr key={path} data-path={path}>
                    <td>{path}</td><td>file</td><td>{file.mime_type || '–'}</td>
                    <td className="num">{file.size_bytes === undefined ? '–' : bytes(file.size_bytes)}</td>
                  </tr>
                )
              })}
              {fileSeries.map((path) => (
                <tr key={path} data-path={path}>
                  <td>{path}</td><td>file series</td><td>–</td>
                  <td className="num">{run.series[path].count.toLocaleString('en-US')} files</td>
                </tr>
              ))}
            </tbody>
          </table>
          <div className="chart-grid track-charts">
            {[...fileAttributes, ...fileSeries].map((path) => <BlockView key={path} block={block('image', path)} runs={runs} height={260} />)}
          </div>
        </section>
      )}
    </>
  )
}
