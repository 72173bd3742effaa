import { useMemo, useState } from 'react'
import type { Schemas } from '../../../api/client'
import type { DashboardSpec, RunsInView } from '../blocks/spec'
import { RunChips, when } from '../dashboards/DashboardPage'
import { useMetricNames } from '../dashboards/runs'
import { SectionsView } from '../dashboards/SectionsView'

type Shared = Schemas['SharedReport']

/** A report as everyone reads it: its fixed runs and its blocks, nothing to edit. */
export function ReportView({ report }: { report: Shared }) {
  const runs: RunsInView = useMemo(() => ({ runIds: report.runs, groups: report.groups }), [report])
  const { names } = useMetricNames(report.runs, 0)
  const [spec, setSpec] = useState(report.spec as unknown as DashboardSpec)
  return (
    <article className="report">
      <p className="muted small report-meta">Updated {when(report.updated_at)} · {report.runs.length}{' '}
        {report.runs.length === 1 ? 'run' : 'runs'}</p>
      <RunChips runIds={report.runs} />
      {/* collapsing a section is the reader's own: it is not saved */}
      <SectionsView spec={spec} runs={runs} metricNames={names} editable={false} onChange={setSpec} />
    </article>
  )
}
