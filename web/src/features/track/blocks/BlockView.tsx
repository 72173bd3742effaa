import { RunsChart, type ChartOptions } from '../ChartsPage'
import type { Block, RunsInView } from './spec'

/** A block drawn for the runs in view, filling `height` pixels. */
export function BlockView({ block, runs, height }: { block: Block; runs: RunsInView; height: number }) {
  switch (block.type) {
    case 'line': {
      const o = block.options
      const x = o.x.kind === 'metric' ? 'step' : o.x.kind
      const options: ChartOptions = {
        x, logX: o.logX, logY: o.logY, smoothing: o.smoothing.kind === 'ema' ? o.smoothing.weight : 0,
      }
      const path = o.metrics[0]
      if (!path) return <p className="muted small">No metric chosen.</p>
      return <RunsChart path={path} runIds={runs.runIds} options={options} height={height} />
    }
    case 'markdown':
      return <div className="block-markdown">{block.options.text}</div>
    default:
      return <p className="muted small">A {block.type} block.</p>
  }
}
