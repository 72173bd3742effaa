import { useMemo, useState } from 'react'
import { newId, type Block, type DashboardSpec, type Layout, type RunsInView, type Section } from '../blocks/spec'
import { BlockEditor } from '../blocks/BlockEditor'
import { BlockGrid } from './BlockGrid'
import { below, tiled } from './grid'

/** The blocks a dynamic section shows: a line block of its template for every metric its regex matches. */
export function dynamicBlocks(section: Section, metricNames: string[]): Block[] {
  if (!section.dynamic) return []
  let re: RegExp
  try {
    re = new RegExp(section.dynamic.regex)
  } catch {
    return []
  }
  const paths = metricNames.filter((p) => re.test(p))
  const layouts = tiled(paths.length)
  return paths.map((path, i) => ({
    id: `${section.id}:${path}`, type: 'line', title: path, layout: layouts[i],
    options: { ...section.dynamic!.template, metrics: [path] },
  }))
}

/** A dashboard's (or report's) sections; editable, each can be renamed, collapsed, removed and given blocks. */
export function SectionsView({ spec, runs, metricNames, editable, onChange }: {
  spec: DashboardSpec
  runs: RunsInView
  metricNames: string[]
  editable: boolean
  onChange?: (spec: DashboardSpec) => void
}) {
  const change = (id: string, edit: (s: Section) => Section | null) => onChange?.({
    sections: spec.sections.flatMap((s) => {
      if (s.id !== id) return [s]
      const edited = edit(s)
      return edited ? [edited] : []
    }),
  })
  return (
    <div className="sections">
      {spec.sections.map((section) => (
        <SectionView key={section.id} section={section} runs={runs} metricNames={metricNames} editable={editable}
          onChange={(edit) => change(section.id, edit)} />
      ))}
    </div>
  )
}

function SectionView({ section, runs, metricNames, editable, onChange }: {
  section: Section
  runs: RunsInView
  metricNames: string[]
  editable: boolean
  onChange: (edit: (s: Section) => Section | null) => void
}) {
  const [renaming, setRenaming] = useState(false)
  const [title, setTitle] = useState(section.title)
  const [adding, setAdding] = useState(false)
  const [editing, setEditing] = useState<Block | null>(null)
  const generated = useMemo(() => dynamicBlocks(section, metricNames), [section, metricNames])
  const blocks = section.dynamic ? generated : section.blocks
  const label = section.title || 'Untitled section'
  const put = (block: Block) => onChange((s) => ({
    ...s, blocks: s.blocks.some((b) => b.id === block.id) ? s.blocks.map((b) => (b.id === block.id ? block : b))
      : [...s.blocks, block],
  }))
  return (
    <section className={`dash-section ${section.collapsed ? 'collapsed' : ''}`} data-section={section.title}>
      <header className="dash-section-head">
        <button className="wf-toggle" aria-expanded={!section.collapsed}
          aria-label={`${section.collapsed ? 'Expand' : 'Collapse'} section ${label}`}
          onClick={() => onChange((s) => ({ ...s, collapsed: !s.collapsed }))}>{section.collapsed ? '▸' : '▾'}</button>
        {renaming ? (
          <form className="inline-form" onSubmit={(e) => {
            e.preventDefault()
            onChange((s) => ({ ...s, title: title.trim() }))
            setRenaming(false)
          }}>
            <input autoFocus aria-label="Section title" value={title} onChange={(e) => setTitle(e.target.value)} />
            <button type="submit">Rename</button>
          </form>
        ) : <h2>{label}</h2>}
        {section.dynamic && (
          <span className="muted small dynamic-note" title="A line chart for every metric of the runs in view that the
            regular expression matches, found again as the runs gain metrics">
            dynamic: <code>{section.dynamic.regex}</code> · {generated.length} {generated.length === 1 ? 'metric' : 'metrics'}
          </span>
        )}
        {editable && (
          <span className="dash-section-actions no-print">
            {!section.dynamic && <button className="link small" onClick={() => { setAdding(true); setEditing(null) }}
              aria-label={`Add block to ${label}`}>+ Block</button>}
            <button className="link small" onClick={() => { setTitle(section.title); setRenaming(!renaming) }}
              aria-label={`Rename section ${label}`}>Rename</button>
            <button className="link small danger" onClick={() => onChange(() => null)}
              aria-label={`Remove section ${label}`}>Remove</button>
          </span>
        )}
      </header>
      {editable && (adding || editing) && (
        <BlockEditor key={editing?.id ?? 'new'} runs={runs} initial={editing ?? undefined}
          saveLabel={editing ? 'Apply' : 'Add block'}
          onSave={(block) => {
            // a new block goes below the section's others; an edited one keeps its place
            put({ ...block, layout: editing?.layout ?? below(section.blocks, 6, block.type === 'markdown' ? 3 : 7) } as Block)
            setAdding(false)
            setEditing(null)
          }}
          onCancel={() => { setAdding(false); setEditing(null) }} />
      )}
      {!section.collapsed && (
        blocks.length === 0
          ? <p className="muted small empty-section">{section.dynamic
            ? 'No metric of the runs in view matches the regular expression.'
            : editable ? 'No blocks yet: + Block adds one.' : 'No blocks.'}</p>
          : <BlockGrid blocks={blocks} runs={runs} editable={editable && !section.dynamic}
            onLayout={(layouts: Record<string, Layout>) => onChange((s) => ({
              ...s, blocks: s.blocks.map((b) => ({ ...b, layout: layouts[b.id] ?? b.layout }) as Block),
            }))}
            onRemove={(id) => onChange((s) => ({ ...s, blocks: s.blocks.filter((b) => b.id !== id) }))}
            onEdit={(b) => { setEditing(b); setAdding(false) }} />
      )}
    </section>
  )
}

/** A new section: of blocks, or dynamic over a regex with a plain line template. */
export function newSection(title: string, regex: string | null): Section {
  return {
    id: newId(), title, collapsed: false, blocks: [],
    dynamic: regex ? { regex, template: { formulas: [], x: { kind: 'step' }, logX: false, logY: false, smoothing: { kind: 'none' } } } : null,
  }
}
