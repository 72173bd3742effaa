// Logged files: their bytes come from GET /api/track/files/{key} with the API key (through the share link on a
// shared report), so the browser shows them from a
// blob URL (an <img src> to the API would go without the key).
import { useEffect, useState } from 'react'
import { currentKey } from '../../../api/client'
import { shareToken } from '../../../api/shared'

export type FileRef = { path: string; size_bytes?: number; mime_type?: string }

const IMAGE_EXTENSIONS = /\.(png|jpe?g|gif|webp|bmp|svg)$/i

export function isFileRef(value: unknown): value is FileRef {
  return typeof value === 'object' && value !== null && typeof (value as FileRef).path === 'string'
}

/** An image by its MIME type or, when the client sent none, by its name. */
export function isImage(file: FileRef): boolean {
  return file.mime_type ? file.mime_type.startsWith('image/') : IMAGE_EXTENSIONS.test(file.path)
}

export async function fileBlob(file: FileRef, signal?: AbortSignal): Promise<Blob> {
  const key = file.path.replace(/^\/+/, '')
  const token = shareToken()
  const answer = await fetch(token
    ? `${window.location.origin}/api/shared/reports/${encodeURIComponent(token)}/files/${key}`
    : `${window.location.origin}/api/track/files/${key}`, {
    headers: token ? {} : { Authorization: `Bearer ${currentKey()}` }, signal,
  })
  if (!answer.ok) throw new Error(`the file ${file.path} could not be read (${answer.status})`)
  const bytes = await answer.blob()
  // the server answers octet-stream: the logged MIME type lets the browser show an image
  return file.mime_type ? new Blob([bytes], { type: file.mime_type }) : bytes
}

/** A blob URL of the file's bytes while the component shows it, or the error reading it. */
export function useFileUrl(file: FileRef | null): { url: string | null; error: string | null } {
  const [state, setState] = useState<{ url: string | null; error: string | null }>({ url: null, error: null })
  const key = file ? `${file.path}|${file.mime_type ?? ''}` : ''
  useEffect(() => {
    if (!file) return
    const controller = new AbortController()
    let url: string | null = null
    setState({ url: null, error: null })
    fileBlob(file, controller.signal).then((blob) => {
      url = URL.createObjectURL(blob)
      setState({ url, error: null })
    }, (err: unknown) => {
      if (!controller.signal.aborted) setState({ url: null, error: err instanceof Error ? err.message : String(err) })
    })
    return () => {
      controller.abort()
      if (url) URL.revokeObjectURL(url)
    }
  }, [key]) // eslint-disable-line react-hooks/exhaustive-deps
  return state
}

/** Save the file under its own name, as a download link would. */
export async function downloadFile(file: FileRef): Promise<void> {
  const url = URL.createObjectURL(await fileBlob(file))
  const link = document.createElement('a')
  link.href = url
  link.download = file.path.split('/').pop() || 'file'
  link.click()
  window.setTimeout(() => URL.revokeObjectURL(url), 10_000)
}
