// Which projects this browser can open: one API key per project, kept in localStorage.
import { ApiError, api, unwrap, setApiKey } from './client'

export type Connection = { key: string; projectId: string; projectName: string }

const STORE = 'neon.connections'
const CURRENT = 'neon.current'

export function connections(): Connection[] {
  try {
    const parsed = JSON.parse(localStorage.getItem(STORE) ?? '[]') as unknown
    return Array.isArray(parsed) ? (parsed as Connection[]).filter((c) => c && typeof c.key === 'string') : []
  } catch {
    return []
  }
}

function save(list: Connection[]): void {
  localStorage.setItem(STORE, JSON.stringify(list))
}

export function current(): Connection | null {
  const list = connections()
  const chosen = localStorage.getItem(CURRENT)
  const found = list.find((c) => c.projectId === chosen) ?? list[0] ?? null
  setApiKey(found?.key ?? '')
  return found
}

export function choose(projectId: string): void {
  localStorage.setItem(CURRENT, projectId)
  current()
}

/** Check a key with the server and remember it; the project it belongs to becomes the current one. */
export async function connect(key: string): Promise<Connection> {
  const trimmed = key.trim()
  if (!trimmed) throw new ApiError(400, 'paste an API key (it starts with neon_sk_)')
  setApiKey(trimmed)
  try {
    const project = await unwrap(api.GET('/api/project'))
    const connection = { key: trimmed, projectId: project.id, projectName: project.name }
    save([...connections().filter((c) => c.projectId !== project.id), connection])
    choose(project.id)
    return connection
  } catch (err) {
    current()
    if (err instanceof ApiError && err.status === 401) {
      throw new ApiError(401, `that key was not accepted: ${err.message}`)
    }
    throw err
  }
}

export function forget(projectId: string): void {
  save(connections().filter((c) => c.projectId !== projectId))
  if (localStorage.getItem(CURRENT) === projectId) localStorage.removeItem(CURRENT)
  current()
}

/** `neon up` prints a link with `#key=…` on first start: take the key, then drop it from the address bar. */
export async function connectFromLocation(): Promise<void> {
  const match = /(?:^#|&)key=([^&]+)/.exec(window.location.hash)
  if (!match) return
  history.replaceState(null, '', window.location.pathname + window.location.search)
  await connect(decodeURIComponent(match[1]))
}
