import { useEffect, useState } from 'react'
import { api, unwrap } from '../../../api/client'
import { useQuery } from '../../../lib/useQuery'
import { downloadFile, isFileRef, isImage, useFileUrl, type FileRef } from './files'
import { RunPicker } from './RunPicker'
import type { ImageOptions, RunsInView } from './spec'
import { StepSlider } from './StepSlider'
import { allRuns } from './values'

type Found = { steps: number[]; files: FileRef[] }

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`
  return `${(n / 1024 ** 2).toFixed(1)} MiB`
}

/** A run's image: a file series (a slider over its steps, the last first) or a file attribute. */
export function ImageBlock({ options, runs, height }: { options: ImageOptions; runs: RunsInView; height: number }) {
  const ids = allRuns(runs)
  const [picked, setPicked] = useState<string | null>(null)
  const runId = picked && ids.includes(picked) ? picked : options.run && ids.includes(options.run) ? options.run : ids[0]
  const { data, error } = useQuery(`image:${runId}:${options.path}`, async (signal): Promise<Found> => {
    if (!runId || !options.path) return { steps: [], files: [] }
    const run = await unwrap(api.GET('/api/track/runs/{run_id}', { params: { path: { run_id: runId } }, signal }))
    const attribute = run.attributes[options.path]
    if (attribute && isFileRef(attribute.value)) return { steps: [], files: [attribute.value] }
    if (run.series[options.path]?.type !== 'fileRefSeries') return { steps: [], files: [] }
    const answer = await unwrap(api.GET('/api/track/runs/{run_id}/points', {
      params: { path: { run_id: runId }, query: { path: options.path, kind: 'file' } }, signal,
    }))
    const points = answer.points.filter((p) => isFileRef(p.value))
    return { steps: points.map((p) => p.step), files: points.map((p) => p.value as FileRef) }
  })
  const [index, setIndex] = useState<number | null>(null)
  useEffect(() => setIndex(null), [runId, options.path])
  const files = data?.files ?? []
  const at = index === null ? files.length - 1 : Math.min(index, files.length - 1)
  const file = at >= 0 ? files[at] : null
  const { url, error: fileError } = useFileUrl(file && isImage(file) ? file : null)
  if (!options.path) return <p className="muted small">Choose a file series or file attribute.</p>
  if (!runId) return <p className="muted small">No run in view.</p>
  if (error) return <div className="nql-error small">{error.message}</div>
  return (
    <div className="block-image" data-drawn={url || (data && !file) ? 'yes' : 'no'} data-run-id={runId}>
      <div className="block-controls">
        <RunPicker runIds={ids} value={runId} onChange={setPicked} />
        {data && data.steps.length > 0 && <StepSlider steps={data.steps} index={at} onChange={setIndex} label={`Step of ${options.path}`} />}
        {file && <button type="button" className="link small" onClick={() => void downloadFile(file)}
          aria-label={`Download ${options.path}`}>Download{file.size_bytes !== undefined && ` (${bytes(file.size_bytes)})`}</button>}
      </div>
      {data && !file && <p className="muted small">{runId} has no file at {options.path}.</p>}
      {file && !isImage(file) && <p className="muted small">{file.path} is not an image ({file.mime_type || 'no type'}).</p>}
      {fileError && <div className="nql-error small">{fileError}</div>}
      {url && <img src={url} alt={`${options.path} of ${runId}`} style={{ height: Math.max(80, height - 70) }} />}
    </div>
  )
}
