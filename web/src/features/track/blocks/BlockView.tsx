import { HistogramBlock } from './HistogramBlock'
import { ImageBlock } from './ImageBlock'
import { LineChart } from './LineBlock'
import { MarkdownBlock } from './MarkdownBlock'
import { ScatterBlock } from './ScatterBlock'
import type { Block, RunsInView } from './spec'
import { TableBlock } from './TableBlock'
import { ValueBlock } from './ValueBlock'

/** What a line block is titled when it has no title: its metrics and formulas. */
export function blockTitle(block: Block): string {
  if (block.title) return block.title
  switch (block.type) {
    case 'line': return [...block.options.metrics, ...block.options.formulas].join(', ')
    case 'histogram':
    case 'image': return block.options.path
    default: return ''
  }
}

/** A block drawn for the runs in view, filling `height` pixels. */
export function BlockView({ block, runs, height }: { block: Block; runs: RunsInView; height: number }) {
  const body = (() => {
    switch (block.type) {
      case 'line': {
        const o = block.options
        if (!o.metrics.length && !o.formulas.some((f) => f.trim())) return <p className="muted small">No metric chosen.</p>
        return <LineChart options={o} runs={runs} title={blockTitle(block)} height={height - 70} />
      }
      case 'scatter': return <ScatterBlock options={block.options} runs={runs} height={height} />
      case 'value': return <ValueBlock options={block.options} runs={runs} />
      case 'table': return <TableBlock options={block.options} runs={runs} />
      case 'histogram': return <HistogramBlock options={block.options} runs={runs} height={height} />
      case 'image': return <ImageBlock options={block.options} runs={runs} height={height} />
      case 'markdown': return <MarkdownBlock text={block.options.text} />
    }
  })()
  // a line chart has its own frame and title; the other types get one here
  if (block.type === 'line') return <div className="block-view" data-block-type="line" data-block-id={block.id}>{body}</div>
  return (
    <section className="chart block-view" data-block-type={block.type} data-block-id={block.id} style={{ minHeight: height }}>
      {blockTitle(block) && <h3 className="block-title" title={blockTitle(block)}>{blockTitle(block)}</h3>}
      {body}
    </section>
  )
}
