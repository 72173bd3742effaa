import { useState } from 'react'
import { useNavigate } from 'react-router'
import { api, unwrap, type AgentRunDetail } from '../../api/client'
import { useQuery } from '../../lib/useQuery'

type ModelSpec = { provider?: string; name?: string; parameters?: Record<string, unknown> }
type ForkBody = {
  at_step: number
  system_prompt?: string
  model?: string
  parameters?: Record<string, unknown>
  tools?: string[]
  version?: string
}

/** Fork a finished run from one of its steps, with changes: the steps before it are reused, the rest run live.
 * Only what the user changed is sent, so the fork's recorded overrides say exactly what differs. */
export function ForkDialog({ run, atStep, onClose }: { run: AgentRunDetail; atStep: number; onClose: () => void }) {
  const navigate = useNavigate()
  const name = run.agent ?? ''
  const agent = useQuery(`agent:${name}`, (signal) => unwrap(api.GET('/api/agents/{name}', {
    params: { path: { name } }, signal })))
  const version = run.version ?? ''
  const spec = useQuery(`agent-version:${name}:${version}`, (signal) => unwrap(api.GET(
    '/api/agents/{name}/versions/{version}', { params: { path: { name, version } }, signal })))
  const finished = run.steps.filter((s) => s.status !== 'running')

  if (!spec.data) {
    return (
      <Shell onClose={onClose}>
        {spec.error ? <div className="error-box" role="alert">Could not read the run's spec: {spec.error.message}</div>
          : <p className="muted">Reading the run's spec…</p>}
      </Shell>
    )
  }
  const s = spec.data.spec as { system_prompt?: string; model?: ModelSpec; tools?: { name: string }[] }
  return (
    <Shell onClose={onClose}>
      <ForkForm run={run} atStep={atStep} steps={finished.map((st) => ({ index: st.index, label: `${st.index} · ${st.key} ${st.kind} ${st.name}` }))}
        prompt={s.system_prompt ?? ''} model={s.model ?? {}} tools={(s.tools ?? []).map((t) => t.name)}
        versions={(agent.data?.versions ?? []).map((v) => v.version)}
        onForked={(id) => { onClose(); navigate(`/runs/${id}`) }} onClose={onClose} />
    </Shell>
  )
}

function Shell({ onClose, children }: { onClose: () => void; children: React.ReactNode }) {
  return (
    <div className="dialog-backdrop" onMouseDown={(e) => e.target === e.currentTarget && onClose()}>
      <div className="dialog fork-dialog" role="dialog" aria-label="Fork the run" aria-modal="true"
        onKeyDown={(e) => e.key === 'Escape' && onClose()}>
        <h2>Fork from a step</h2>
        <p className="muted small">The steps before the chosen one are reused from this run (no calls made); the fork
          runs live from it, with your changes.</p>
        {children}
      </div>
    </div>
  )
}

function ForkForm({ run, atStep, steps, prompt, model, tools, versions, onForked, onClose }: {
  run: AgentRunDetail
  atStep: number
  steps: { index: number; label: string }[]
  prompt: string
  model: ModelSpec
  tools: string[]
  versions: string[]
  onForked: (runId: string) => void
  onClose: () => void
}) {
  // the stored spec lists every parameter, unset ones as null or []: the form shows the ones set
  const original = model.parameters ?? {}
  const initialParams = JSON.stringify(Object.fromEntries(Object.entries(original).filter(
    ([, v]) => v !== null && !(Array.isArray(v) && v.length === 0))), null, 2)
  const [step, setStep] = useState(atStep)
  const [systemPrompt, setSystemPrompt] = useState(prompt)
  const [modelName, setModelName] = useState(model.name ?? '')
  const [params, setParams] = useState(initialParams)
  const [kept, setKept] = useState<string[]>(tools)
  const [version, setVersion] = useState('')
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState('')

  const submit = async () => {
    const body: ForkBody = { at_step: step }
    if (systemPrompt !== prompt) body.system_prompt = systemPrompt
    if (modelName.trim() && modelName.trim() !== (model.name ?? '')) body.model = modelName.trim()
    if (params.trim() !== initialParams.trim()) {
      let parsed: unknown
      try {
        parsed = JSON.parse(params)
      } catch (err) {
        setError(`Parameters are not JSON: ${err instanceof Error ? err.message : String(err)}`)
        return
      }
      if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
        setError('Parameters must be a JSON object, like {"temperature": 0}')
        return
      }
      // the fork merges them into the run's: send only the values that differ, so its overrides list real changes
      const changed = Object.entries(parsed as Record<string, unknown>).filter(
        ([key, value]) => canonical(value) !== canonical(original[key] ?? null))
      if (changed.length) body.parameters = Object.fromEntries(changed)
    }
    if (kept.length !== tools.length) body.tools = kept
    if (version) body.version = version
    setBusy(true)
    setError('')
    try {
      const forked = await unwrap(api.POST('/api/agent-runs/{run_id}/fork', {
        params: { path: { run_id: run.run_id } }, body }))
      onForked(forked.run_id)
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err))
      setBusy(false)
    }
  }

  return (
    <form className="fork-form" onSubmit={(e) => { e.preventDefault(); void submit() }}>
      <label className="field"><span>Fork from step</span>
        <select aria-label="Fork from step" value={step} onChange={(e) => setStep(Number(e.target.value))}>
          {steps.map((st) => <option key={st.index} value={st.index}>{st.label}</option>)}
        </select>
      </label>
      <label className="field"><span>System prompt</span>
        <textarea aria-label="System prompt" rows={6} value={systemPrompt} onChange={(e) => setSystemPrompt(e.target.value)} />
      </label>
      <label className="field"><span>Model</span>
        <input aria-label="Model" value={modelName} onChange={(e) => setModelName(e.target.value)} />
      </label>
      <label className="field"><span>Parameters (JSON, merged into the model's)</span>
        <textarea aria-label="Parameters" rows={4} className="mono" value={params} onChange={(e) => setParams(e.target.value)} />
      </label>
      {tools.length > 0 && (
        <fieldset className="fork-tools">
          <legend>Tools</legend>
          {tools.map((t) => (
            <label key={t} className="check">
              <input type="checkbox" checked={kept.includes(t)}
                onChange={(e) => setKept(e.target.checked ? tools.filter((x) => x === t || kept.includes(x)) : kept.filter((x) => x !== t))} />
              {t}
            </label>
          ))}
        </fieldset>
      )}
      {versions.length > 1 && (
        <label className="field"><span>Agent version</span>
          <select aria-label="Agent version" value={version} onChange={(e) => setVersion(e.target.value)}>
            <option value="">this run's ({run.version})</option>
            {versions.filter((v) => v !== run.version).map((v) => <option key={v} value={v}>{v}</option>)}
          </select>
        </label>
      )}
      {error && <div className="error-box" role="alert">Could not fork: {error}</div>}
      <div className="dialog-actions">
        <button className="primary" type="submit" disabled={busy}>{busy ? 'Forking…' : 'Fork'}</button>
        <button type="button" onClick={onClose} disabled={busy}>Cancel</button>
      </div>
    </form>
  )
}

/** JSON with object keys sorted, to compare two values regardless of key order and spacing. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => v && typeof v === 'object' && !Array.isArray(v)
    ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b))) : v)
}
