import { useCallback, useEffect, useMemo, useState } from 'react'
import { Link, useNavigate, useParams, useSearchParams } from 'react-router'
import { api, unwrap, type Schemas } from '../../../api/client'
import { ErrorBox } from '../../../components/Feedback'
import type { DashboardSpec, RunsInView } from '../blocks/spec'
import { runColor, useSelectedRuns } from '../runs'
import { TrackNav } from '../TrackNav'
import { useMetricNames, useQueryRuns } from './runs'
import { useNotice } from './useNotice'
import { newSection, SectionsView } from './SectionsView'

type Dashboard = Schemas['DashboardOut']
type Version = Schemas['DashboardVersionOut']

export function when(iso: string): string {
  return iso.replace('T', ' ').replace(/(\.\d+)?(\+00:00|Z)$/, '')
}

/** A dashboard: sections of blocks over the runs chosen here (those selected in the table, or an NQL query).
 * Save makes a new version; older versions open read-only-in-place and can be restored. */
export function DashboardPage() {
  const { id = '' } = useParams()
  const [params, setParams] = useSearchParams()
  const version = params.get('version') ? Number(params.get('version')) : null
  const [dashboard, setDashboard] = useState<Dashboard | null>(null)
  const [spec, setSpec] = useState<DashboardSpec>({ sections: [] })
  const [savedSpec, setSavedSpec] = useState('')
  const [error, setError] = useState<Error | null>(null)
  const [refresh, setRefresh] = useState(0)
  const navigate = useNavigate()

  const show = useCallback((answer: Dashboard) => {
    setDashboard(answer)
    const loaded = answer.spec as unknown as DashboardSpec
    setSpec(loaded)
    setSavedSpec(JSON.stringify(loaded))
  }, [])
  const load = useCallback(() => {
    unwrap(api.GET('/api/track/dashboards/{dashboard_id}', {
      params: { path: { dashboard_id: id }, query: version ? { version } : {} },
    })).then((answer) => { show(answer); setError(null) }, setError)
  }, [id, version, show])
  useEffect(load, [load])

  // the runs in view: a query chosen here, a list in the address, or the runs selected in the table
  const query = params.get('q')
  const listed = params.getAll('run')
  const selected = useSelectedRuns()
  const { runIds: queried, error: queryError } = useQueryRuns(query)
  const source = query !== null ? 'query' : listed.length ? 'list' : 'selected'
  const runIds = source === 'query' ? queried : source === 'list' ? listed : selected
  const runs: RunsInView = useMemo(() => ({ runIds, groups: [] }), [runIds])
  const { names } = useMetricNames(runIds, refresh)
  const [draftQuery, setDraftQuery] = useState(query ?? '')

  const dirty = JSON.stringify(spec) !== savedSpec
  const { notice, act } = useNotice()
  const save = () => act(async () => {
    const answer = await unwrap(api.PUT('/api/track/dashboards/{dashboard_id}', {
      params: { path: { dashboard_id: id } }, body: { spec: spec as unknown as Schemas['DashboardSpec'] },
    }))
    show(answer)
    setParams((p) => { p.delete('version'); return p })
  })
  const report = () => act(async () => {
    const made = await unwrap(api.POST('/api/track/reports', {
      body: { name: `${dashboard?.name ?? 'Dashboard'} report`, spec: spec as unknown as Schemas['DashboardSpec'],
        runs: runIds.slice(0, 1000), groups: [] },
    }))
    navigate(`/track/reports/${made.id}`)
  })

  if (error) return <div className="page track-page"><TrackNav /><ErrorBox error={error} what="dashboard" retry={load} /></div>
  if (!dashboard) return <div className="page track-page"><TrackNav /><p className="muted">Loading…</p></div>
  const old = dashboard.version !== dashboard.latest_version
  return (
    <div className="page track-page dashboard-page">
      <TrackNav />
      <div className="page-head">
        <h1>{dashboard.name}
          <span className="muted small" data-testid="dashboard-version">version {dashboard.version}
            {old && ` of ${dashboard.latest_version}`} · saved {when(dashboard.saved_at)}
            {dashboard.author && <> with the key <i>{dashboard.author}</i></>}</span>
          {dirty && <span className="unsaved small">unsaved changes</span>}
        </h1>
        <div className="head-actions no-print">
          <Versions dashboardId={id} current={dashboard.version} latest={dashboard.latest_version}
            onOpen={(v) => setParams((p) => { if (v === dashboard.latest_version) p.delete('version'); else p.set('version', String(v)); return p })}
            onRestore={(v) => void act(async () => {
              show(await unwrap(api.POST('/api/track/dashboards/{dashboard_id}/versions/{version}/restore', {
                params: { path: { dashboard_id: id, version: v } } })))
              setParams((p) => { p.delete('version'); return p })
            })} />
          <button onClick={() => void report()} disabled={runIds.length === 0}
            title="A report of these blocks over the runs in view, fixed">Make report</button>
          <button className="danger" onClick={() => void act(async () => {
            if (!window.confirm(`Delete the dashboard “${dashboard.name}” and all its versions?`)) return
            await unwrap(api.DELETE('/api/track/dashboards/{dashboard_id}', { params: { path: { dashboard_id: id } } }))
            navigate('/track/dashboards')
          })}>Delete</button>
          <button className="primary" onClick={() => void save()} disabled={!dirty && !old}>Save</button>
        </div>
      </div>
      {old && <div className="version-banner small">Viewing version {dashboard.version}, not the newest
        ({dashboard.latest_version}). <b>Save</b> makes it the newest with your changes;{' '}
        <button className="link inline" onClick={() => setParams((p) => { p.delete('version'); return p })}>open the newest</button>.</div>}
      {notice && <div className="nql-error small" role="alert">{notice}</div>}

      <div className="runs-in-view no-print">
        <span className="small"><b>Runs:</b></span>
        <label className="small"><input type="radio" checked={source === 'selected'}
          onChange={() => setParams((p) => { p.delete('q'); p.delete('run'); return p })} /> selected in the table ({selected.length})</label>
        {listed.length > 0 && <label className="small"><input type="radio" checked={source === 'list'} readOnly /> the list in the address ({listed.length})</label>}
        <form className="inline-form small" onSubmit={(e) => {
          e.preventDefault()
          setParams((p) => { p.set('q', draftQuery); p.delete('run'); return p })
        }}>
          <label><input type="radio" checked={source === 'query'}
            onChange={() => setParams((p) => { p.set('q', draftQuery); p.delete('run'); return p })} /> NQL</label>
          <input aria-label="Runs query" placeholder='e.g. config/optimizer == "adam"' value={draftQuery}
            onChange={(e) => setDraftQuery(e.target.value)} spellCheck={false} />
          <button type="submit">Apply</button>
        </form>
        <button className="link small" onClick={() => setRefresh((n) => n + 1)}
          title="Look again for the runs' metrics (dynamic sections)">Refresh metrics</button>
        {queryError && source === 'query' && <span className="nql-error small">{queryError}</span>}
      </div>
      <RunChips runIds={runIds} />
      {runIds.length === 0 && <p className="muted small">No runs in view: select runs in the <Link to="/track">table</Link> or
        choose them with a query.</p>}

      {spec.sections.length === 0 && <p className="muted">No sections yet: add one below, of blocks you place
        yourself, or dynamic — a chart for every metric whose path a regular expression matches.</p>}
      <SectionsView spec={spec} runs={runs} metricNames={names} editable onChange={setSpec} />
      <AddSection onAdd={(title, regex) => setSpec((s) => ({ sections: [...s.sections, newSection(title, regex)] }))} />
    </div>
  )
}

export function RunChips({ runIds }: { runIds: string[] }) {
  const shown = runIds.slice(0, 30)
  return (
    <ul className="run-chips small" aria-label="Runs in view">
      {shown.map((r) => (
        <li key={r} data-run-id={r}><span className="run-swatch" style={{ background: runColor(r) }} aria-hidden />{r}</li>
      ))}
      {runIds.length > shown.length && <li className="muted">and {runIds.length - shown.length} more</li>}
    </ul>
  )
}

function AddSection({ onAdd }: { onAdd: (title: string, regex: string | null) => void }) {
  const [title, setTitle] = useState('')
  const [dynamic, setDynamic] = useState(false)
  const [regex, setRegex] = useState('')
  let bad: string | null = null
  if (dynamic) {
    try {
      new RegExp(regex)
    } catch (err) {
      bad = (err as Error).message
    }
  }
  const ready = !bad && (!dynamic || regex.trim() !== '')
  return (
    <form className="add-section no-print" aria-label="Add section" onSubmit={(e) => {
      e.preventDefault()
      if (!ready) return
      onAdd(title.trim() || (dynamic ? regex : 'Section'), dynamic ? regex : null)
      setTitle('')
      setRegex('')
    }}>
      <input aria-label="New section title" placeholder="Section title" value={title} onChange={(e) => setTitle(e.target.value)} />
      <label className="small"><input type="checkbox" checked={dynamic} onChange={(e) => setDynamic(e.target.checked)} />{' '}
        dynamic: a chart for every metric matching</label>
      {dynamic && <input aria-label="Section regex" placeholder="regex, e.g. ^val/" value={regex} spellCheck={false}
        onChange={(e) => setRegex(e.target.value)} />}
      <button type="submit" disabled={!ready}>Add section</button>
      {bad && <span className="nql-error small">{bad}</span>}
    </form>
  )
}

function Versions({ dashboardId, current, latest, onOpen, onRestore }: {
  dashboardId: string
  current: number
  latest: number
  onOpen: (version: number) => void
  onRestore: (version: number) => void
}) {
  const [open, setOpen] = useState(false)
  const [versions, setVersions] = useState<Version[]>([])
  useEffect(() => {
    if (!open) return
    unwrap(api.GET('/api/track/dashboards/{dashboard_id}/versions', { params: { path: { dashboard_id: dashboardId } } }))
      .then((a) => setVersions(a.versions), () => setVersions([]))
  }, [open, dashboardId, latest])
  return (
    <div className="popover-wrap">
      <button onClick={() => setOpen(!open)} aria-expanded={open}>Versions ({latest}) ▾</button>
      {open && (
        <div className="popover" role="dialog" aria-label="Versions">
          <ul className="picker-list versions-list">
            {versions.map((v) => (
              <li key={v.version} data-version={v.version} className={v.version === current ? 'applied' : ''}>
                <button className="link inline" aria-label={`Open version ${v.version}`}
                  onClick={() => { onOpen(v.version); setOpen(false) }}>
                  v{v.version}{v.version === latest ? ' (newest)' : ''}</button>
                <span className="muted small">{when(v.saved_at)}{v.author ? ` · ${v.author}` : ''}</span>
                {v.version !== latest && <button className="link small" aria-label={`Restore version ${v.version}`}
                  onClick={() => { onRestore(v.version); setOpen(false) }}>Restore</button>}
              </li>
            ))}
          </ul>
        </div>
      )}
    </div>
  )
}
