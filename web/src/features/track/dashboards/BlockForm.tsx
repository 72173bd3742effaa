import { useState } from 'react'
import { DEFAULT_LINE, newId, type Block, type Layout } from '../blocks/spec'

/** A small form for a line or markdown block (title, metric path or text); `block` given: edit that block. */
export function BlockForm({ block, place, onSubmit, onCancel }: {
  block?: Block
  /** where a new block goes */
  place: Layout
  onSubmit: (block: Block) => void
  onCancel: () => void
}) {
  const [title, setTitle] = useState(block?.title ?? '')
  const [type, setType] = useState<'line' | 'markdown'>(block?.type === 'markdown' ? 'markdown' : 'line')
  const [metric, setMetric] = useState(block?.type === 'line' ? block.options.metrics[0] ?? '' : '')
  const [text, setText] = useState(block?.type === 'markdown' ? block.options.text : '')
  const ready = type === 'line' ? metric.trim() !== '' : text.trim() !== ''
  const submit = () => {
    const id = block?.id ?? newId()
    const layout = block?.layout ?? place
    if (type === 'line') {
      const options = block?.type === 'line' ? { ...block.options, metrics: [metric.trim()] }
        : { ...DEFAULT_LINE, metrics: [metric.trim()] }
      onSubmit({ id, type: 'line', title: title.trim() || metric.trim(), layout, options })
    } else {
      onSubmit({ id, type: 'markdown', title: title.trim(), layout: block ? layout : { ...layout, h: 3 }, options: { text } })
    }
  }
  return (
    <form className="block-form" aria-label={block ? 'Edit block' : 'Add block'}
      onSubmit={(e) => { e.preventDefault(); if (ready) submit() }}>
      <select aria-label="Block type" value={type} onChange={(e) => setType(e.target.value as 'line' | 'markdown')}>
        <option value="line">Line chart</option>
        <option value="markdown">Text</option>
      </select>
      <input aria-label="Block title" placeholder="Title" value={title} onChange={(e) => setTitle(e.target.value)} />
      {type === 'line'
        ? <input aria-label="Metric path" placeholder="metric path, e.g. train/loss" value={metric} spellCheck={false}
            onChange={(e) => setMetric(e.target.value)} />
        : <textarea aria-label="Block text" placeholder="Text (Markdown)" value={text} rows={3}
            onChange={(e) => setText(e.target.value)} />}
      <button type="submit" className="primary" disabled={!ready}>{block ? 'Apply' : 'Add block'}</button>
      <button type="button" onClick={onCancel}>Cancel</button>
    </form>
  )
}
