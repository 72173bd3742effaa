import { useId, useMemo, useState } from 'react'
import { escapeRegex } from '../NqlBar'
import { FLOAT_AGGREGATES } from '../runs'
import { useAttributes, type AttributeType } from './attributes'
import { BlockView } from './BlockView'
import { FormulaEditor, type FormulaState } from './FormulaEditor'
import { smoothingText } from './smoothing'
import {
  DEFAULT_LINE, newId, type Block, type BlockOptions, type BlockType, type LineOptions, type RunsInView, type Smoothing,
  type ValueRef,
} from './spec'

const TYPES: { type: BlockType; label: string }[] = [
  { type: 'line', label: 'Line chart' }, { type: 'scatter', label: 'Scatter (a point per run)' },
  { type: 'value', label: 'Single value' }, { type: 'table', label: 'Table' }, { type: 'histogram', label: 'Histogram' },
  { type: 'image', label: 'Image' }, { type: 'markdown', label: 'Text (Markdown)' },
]

export const DEFAULT_OPTIONS: BlockOptions = {
  line: DEFAULT_LINE,
  scatter: { x: { path: '', aggregate: null }, y: { path: '', aggregate: 'last' }, logX: false, logY: false },
  value: { value: { path: '', aggregate: null } },
  table: { columns: [{ path: '', aggregate: null }] },
  histogram: { path: '' },
  image: { path: '' },
  markdown: { text: '' },
}

const SMOOTHING_DEFAULTS: Record<Smoothing['kind'], Smoothing> = {
  none: { kind: 'none' }, ema: { kind: 'ema', weight: 0.9 }, sma: { kind: 'sma', window: 10 },
  gaussian: { kind: 'gaussian', sigma: 2 },
}

/** The chart builder: a block's type, what it shows and how, drawn live with BlockView for the runs in view as you
 * edit. `onSave` gets the finished block (a new id unless `initial` is given). */
export function BlockEditor({ runs, initial, onSave, onCancel, saveLabel = 'Add chart' }: {
  runs: RunsInView
  initial?: Block
  onSave: (block: Block) => void
  onCancel: () => void
  saveLabel?: string
}) {
  const [type, setType] = useState<BlockType>(initial?.type ?? 'line')
  const [title, setTitle] = useState(initial?.title ?? '')
  const [options, setOptions] = useState<BlockOptions>(() => (initial
    ? { ...DEFAULT_OPTIONS, [initial.type]: initial.options } : DEFAULT_OPTIONS))
  const [formulaStates, setFormulaStates] = useState<FormulaState[]>([])
  const set = <T extends BlockType>(t: T, value: BlockOptions[T]) => setOptions((o) => ({ ...o, [t]: value }))

  // the preview (and the saved block) draws the formulas the server accepted
  const line = options.line
  const goodFormulas = line.formulas.filter((f, i) => f.trim() && formulaStates[i]?.ok)
  const pendingFormulas = line.formulas.some((f, i) => f.trim() && !formulaStates[i]?.ok)
  const block = useMemo(() => ({
    id: initial?.id ?? 'preview', type, title, layout: initial?.layout ?? { x: 0, y: 0, w: 6, h: 4 },
    options: type === 'line' ? { ...line, formulas: goodFormulas } : options[type],
  }) as Block, [type, title, options, JSON.stringify(goodFormulas)]) // eslint-disable-line react-hooks/exhaustive-deps

  return (
    <div className="dialog-backdrop" onMouseDown={(e) => e.target === e.currentTarget && onCancel()}>
      <div className="dialog block-editor" role="dialog" aria-label="Chart builder" aria-modal="true"
        onKeyDown={(e) => e.key === 'Escape' && onCancel()}>
        <div className="block-editor-form">
          <h2>{initial ? 'Edit chart' : 'New chart'}</h2>
          <label className="field">Type
            <select aria-label="Block type" value={type} onChange={(e) => setType(e.target.value as BlockType)}>
              {TYPES.map((t) => <option key={t.type} value={t.type}>{t.label}</option>)}
            </select>
          </label>
          <label className="field">Title
            <input aria-label="Title" value={title} onChange={(e) => setTitle(e.target.value)} placeholder="(what it shows)" />
          </label>
          {type === 'line' && <LineFields options={line} onChange={(o) => set('line', o)}
            setStates={setFormulaStates} grouped={runs.groups.length > 0} />}
          {type === 'scatter' && (
            <>
              <ValueRefField label="X" value={options.scatter.x} onChange={(x) => set('scatter', { ...options.scatter, x })} />
              <ValueRefField label="Y" value={options.scatter.y} onChange={(y) => set('scatter', { ...options.scatter, y })} />
              <Scales logX={options.scatter.logX} logY={options.scatter.logY}
                onChange={(logX, logY) => set('scatter', { ...options.scatter, logX, logY })} />
            </>
          )}
          {type === 'value' && <ValueRefField label="Value" value={options.value.value}
            onChange={(value) => set('value', { value })} />}
          {type === 'table' && (
            <fieldset className="field-group">
              <legend>Columns</legend>
              {options.table.columns.map((c, i) => (
                <div key={i} className="field-row">
                  <ValueRefField label={`Column ${i + 1}`} value={c} onChange={(v) => set('table', {
                    columns: options.table.columns.map((old, j) => (j === i ? v : old)) })} />
                  <button type="button" className="link" aria-label={`Remove column ${i + 1}`}
                    onClick={() => set('table', { columns: options.table.columns.filter((_, j) => j !== i) })}>×</button>
                </div>
              ))}
              <button type="button" onClick={() => set('table', { columns: [...options.table.columns, { path: '', aggregate: null }] })}>
                + Column</button>
            </fieldset>
          )}
          {type === 'histogram' && <PathField label="Histogram series" types={['histogramSeries']} value={options.histogram.path}
            onChange={(path) => set('histogram', { ...options.histogram, path })} />}
          {type === 'image' && <PathField label="Image (file series or file)" types={['fileRefSeries', 'fileRef']}
            value={options.image.path} onChange={(path) => set('image', { ...options.image, path })} />}
          {type === 'markdown' && (
            <label className="field">Markdown
              <textarea aria-label="Markdown" rows={8} value={options.markdown.text}
                onChange={(e) => set('markdown', { text: e.target.value })}
                placeholder={'# Findings\n\nThe **higher** rate converges first. - lists, `code`, [links](https://…)'} />
            </label>
          )}
          <div className="dialog-actions">
            <button type="button" className="primary" disabled={pendingFormulas} onClick={() => onSave({ ...block,
              id: initial?.id ?? newId() } as Block)}>{saveLabel}</button>
            <button type="button" onClick={onCancel}>Cancel</button>
            {pendingFormulas && <span className="muted small">a formula is not valid yet</span>}
          </div>
        </div>
        <div className="block-editor-preview" aria-label="Preview">
          <h3>Preview</h3>
          <BlockView key={`${type}`} block={block} runs={runs} height={320} />
        </div>
      </div>
    </div>
  )
}

function LineFields({ options, onChange, setStates, grouped }: {
  options: LineOptions
  onChange: (o: LineOptions) => void
  setStates: (update: (old: FormulaState[]) => FormulaState[]) => void
  grouped: boolean
}) {
  const [search, setSearch] = useState('')
  const { found, error } = useAttributes(search, ['floatSeries'])
  const floats = useAttributes('', ['floatSeries'], 200).found ?? []
  const picked = new Set(options.metrics)
  const toggle = (path: string) => onChange({ ...options, metrics: picked.has(path)
    ? options.metrics.filter((m) => m !== path) : [...options.metrics, path] })
  const pattern = `/${search}/`
  const xList = useId()
  const s = options.smoothing
  return (
    <>
      <fieldset className="field-group">
        <legend>Metrics</legend>
        <input aria-label="Find metrics (regex)" className="grid-search" value={search} onChange={(e) => setSearch(e.target.value)}
          placeholder="Find metrics by regex, e.g. ^val/ or loss$" spellCheck={false} />
        {error ? <div className="nql-error small">{error}</div> : (
          <ul className="metric-matches" aria-label="Matching metrics">
            {(found ?? []).map((a) => (
              <li key={a.path}>
                <label className="small"><input type="checkbox" checked={picked.has(a.path)} onChange={() => toggle(a.path)}
                  aria-label={a.path} /> {a.path} <span className="muted">{a.runs} runs</span></label>
              </li>
            ))}
            {found && !found.length && <li className="muted small">No float series matches.</li>}
          </ul>
        )}
        {search && !error && (found?.length ?? 0) > 0 && (
          <button type="button" className="link small" disabled={picked.has(pattern)}
            onClick={() => onChange({ ...options, metrics: [...options.metrics, pattern] })}>
            + every metric matching {pattern} (also ones logged later)</button>
        )}
        {options.metrics.length > 0 && (
          <ul className="chips" aria-label="Chosen metrics">
            {options.metrics.map((m) => (
              <li key={m} className="chip">{m}<button type="button" className="link" aria-label={`Remove ${m}`}
                onClick={() => toggle(m)}>×</button></li>
            ))}
          </ul>
        )}
      </fieldset>
      <fieldset className="field-group">
        <legend>Formulas</legend>
        {options.formulas.map((f, i) => (
          <div key={i} className="field-row">
            <FormulaEditor label={`Formula ${i + 1}`} value={f}
              onChange={(text) => onChange({ ...options, formulas: options.formulas.map((old, j) => (j === i ? text : old)) })}
              onState={(state) => setStates((old) => {
                const next = [...old]
                next[i] = state
                return next
              })} />
            <button type="button" className="link" aria-label={`Remove formula ${i + 1}`} onClick={() => {
              onChange({ ...options, formulas: options.formulas.filter((_, j) => j !== i) })
              setStates((old) => old.filter((_, j) => j !== i))
            }}>×</button>
          </div>
        ))}
        <button type="button" onClick={() => onChange({ ...options, formulas: [...options.formulas, ''] })}>+ Formula</button>
      </fieldset>
      <fieldset className="field-group">
        <legend>Axes and runs</legend>
        <div className="field-row">
          <label className="small">X axis{' '}
            <select aria-label="X axis kind" value={options.x.kind} disabled={grouped || options.aggregateRuns}
              onChange={(e) => {
                const kind = e.target.value as LineOptions['x']['kind']
                onChange({ ...options, x: kind === 'metric' ? { kind, path: floats[0]?.path ?? '' } : { kind } })
              }}>
              <option value="step">step</option>
              <option value="time">wall time</option>
              <option value="relative">relative time</option>
              <option value="metric">a metric</option>
            </select>
          </label>
          {options.x.kind === 'metric' && (
            <label className="small">x metric{' '}
              <input aria-label="X metric" list={xList} value={options.x.path}
                onChange={(e) => onChange({ ...options, x: { kind: 'metric', path: e.target.value } })} />
              <datalist id={xList}>{floats.map((a) => <option key={a.path} value={a.path} />)}</datalist>
            </label>
          )}
        </div>
        <Scales logX={options.logX} logY={options.logY} onChange={(logX, logY) => onChange({ ...options, logX, logY })} />
        {!grouped && (
          <label className="small"><input type="checkbox" checked={!!options.aggregateRuns}
            onChange={(e) => onChange({ ...options, aggregateRuns: e.target.checked, ...(e.target.checked ? { x: { kind: 'step' } } : {}) })} />
            {' '}draw the runs as one group (mean ± std)</label>
        )}
      </fieldset>
      <fieldset className="field-group">
        <legend>Smoothing</legend>
        <div className="field-row">
          <select aria-label="Smoothing kind" value={s.kind} onChange={(e) => onChange({ ...options,
            smoothing: SMOOTHING_DEFAULTS[e.target.value as Smoothing['kind']] })}>
            <option value="none">none</option>
            <option value="ema">EMA (weight)</option>
            <option value="sma">SMA (window)</option>
            <option value="gaussian">Gaussian (sigma)</option>
          </select>
          {s.kind === 'ema' && <input type="number" aria-label="EMA weight" min={0.01} max={0.99} step={0.01} value={s.weight}
            onChange={(e) => onChange({ ...options, smoothing: { kind: 'ema', weight: clamp(Number(e.target.value), 0, 0.99) } })} />}
          {s.kind === 'sma' && <input type="number" aria-label="SMA window" min={1} max={10000} step={1} value={s.window}
            onChange={(e) => onChange({ ...options, smoothing: { kind: 'sma', window: Math.round(clamp(Number(e.target.value), 1, 10000)) } })} />}
          {s.kind === 'gaussian' && <input type="number" aria-label="Gaussian sigma" min={0.1} max={1000} step={0.5} value={s.sigma}
            onChange={(e) => onChange({ ...options, smoothing: { kind: 'gaussian', sigma: clamp(Number(e.target.value), 0, 1000) } })} />}
          <span className="muted small">{s.kind !== 'none' && `${smoothingText(s)} points; the raw line stays faint behind`}</span>
        </div>
      </fieldset>
    </>
  )
}

const clamp = (v: number, lo: number, hi: number) => (Number.isFinite(v) ? Math.min(hi, Math.max(lo, v)) : lo)

function Scales({ logX, logY, onChange }: { logX: boolean; logY: boolean; onChange: (logX: boolean, logY: boolean) => void }) {
  return (
    <div className="field-row">
      <label className="small"><input type="checkbox" checked={logX} onChange={(e) => onChange(e.target.checked, logY)} /> Log x</label>
      <label className="small"><input type="checkbox" checked={logY} onChange={(e) => onChange(logX, e.target.checked)} /> Log y</label>
    </div>
  )
}

/** An attribute, or a series with its aggregate. */
function ValueRefField({ label, value, onChange }: { label: string; value: ValueRef; onChange: (v: ValueRef) => void }) {
  const list = useId()
  const { found } = useAttributes(value.path ? `^${escapeRegex(value.path)}` : '', [], 30)
  const isSeries = (found ?? []).find((a) => a.path === value.path)?.types.some((t) => t.type.endsWith('Series'))
  return (
    <div className="field-row">
      <label className="small">{label}{' '}
        <input aria-label={`${label} path`} list={list} value={value.path} spellCheck={false}
          onChange={(e) => onChange({ ...value, path: e.target.value })} placeholder="attribute or series" />
        <datalist id={list}>{(found ?? []).map((a) => <option key={a.path} value={a.path}>{a.types.map((t) => t.type).join(', ')}</option>)}</datalist>
      </label>
      <select aria-label={`${label} aggregate`} value={value.aggregate ?? ''}
        onChange={(e) => onChange({ ...value, aggregate: e.target.value || null })}>
        <option value="">{isSeries ? 'last' : 'value'}</option>
        {FLOAT_AGGREGATES.map((a) => <option key={a} value={a}>{a}</option>)}
      </select>
    </div>
  )
}

function PathField({ label, types, value, onChange }: {
  label: string
  types: AttributeType[]
  value: string
  onChange: (path: string) => void
}) {
  const { found } = useAttributes('', types, 200)
  return (
    <label className="field">{label}
      <select aria-label={label} value={value} onChange={(e) => onChange(e.target.value)}>
        <option value="">choose…</option>
        {(found ?? []).map((a) => <option key={a.path} value={a.path}>{a.path}</option>)}
      </select>
    </label>
  )
}
