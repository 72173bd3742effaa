import { StrictMode } from 'react'
import { createRoot } from 'react-dom/client'
import { Navigate, Route, BrowserRouter, Routes } from 'react-router'
import { connectFromLocation, current } from './api/auth'
import { Layout } from './components/Layout'
import { AgentPage } from './features/agents/AgentPage'
import { AgentsPage } from './features/agents/AgentsPage'
import { AnalyticsPage } from './features/analytics/AnalyticsPage'
import { ApprovalsPage } from './features/approvals/ApprovalsPage'
import { ConnectPage } from './features/connect/ConnectPage'
import { DatasetPage } from './features/datasets/DatasetPage'
import { DatasetsPage } from './features/datasets/DatasetsPage'
import { AbTestPage } from './features/evals/AbTestPage'
import { ComparePage } from './features/evals/ComparePage'
import { EvalRunPage } from './features/evals/EvalRunPage'
import { EvalRunsPage } from './features/evals/EvalRunsPage'
import { RunsPage as AgentRunsPage } from './features/runs/RunsPage'
import { SessionPage } from './features/sessions/SessionPage'
import { SessionsPage } from './features/sessions/SessionsPage'
import { SettingsPage } from './features/settings/SettingsPage'
import { ReplayPage as AgentRunReplayPage } from './features/timetravel/ReplayPage'
import { RunDiffPage as AgentRunDiffPage } from './features/timetravel/RunDiffPage'
import { TimeTravelRunPage as AgentRunPage } from './features/timetravel/TimeTravelRunPage'
import { TracePage } from './features/trace/TracePage'
import { TracesPage } from './features/traces/TracesPage'
import { ChartsPage } from './features/track/ChartsPage'
import { CompareRunsPage } from './features/track/ComparePage'
import { RunPage } from './features/track/RunPage'
import { RunsTablePage } from './features/track/RunsTablePage'
import { DashboardPage } from './features/track/dashboards/DashboardPage'
import { DashboardsPage } from './features/track/dashboards/DashboardsPage'
import { ReportPage } from './features/track/reports/ReportPage'
import { ReportsPage } from './features/track/reports/ReportsPage'
import { SharedReportPage } from './features/track/reports/SharedReportPage'
import './styles.css'
import './agent-runs.css'

function RequireKey({ children }: { children: React.ReactNode }) {
  return current() ? children : <Navigate to="/connect" replace />
}

function App() {
  return (
    <BrowserRouter>
      <Routes>
        <Route path="/connect" element={<ConnectPage />} />
        <Route path="/share/reports/:token" element={<SharedReportPage />} />
        <Route element={<RequireKey><Layout /></RequireKey>}>
          <Route path="/" element={<Navigate to="/traces" replace />} />
          <Route path="/traces" element={<TracesPage />} />
          <Route path="/traces/:traceId" element={<TracePage />} />
          <Route path="/sessions" element={<SessionsPage />} />
          <Route path="/sessions/:sessionId" element={<SessionPage />} />
          <Route path="/analytics" element={<AnalyticsPage />} />
          <Route path="/evals" element={<EvalRunsPage />} />
          <Route path="/evals/compare" element={<ComparePage />} />
          <Route path="/evals/ab/:abId" element={<AbTestPage />} />
          <Route path="/evals/:runId" element={<EvalRunPage />} />
          <Route path="/agents" element={<AgentsPage />} />
          <Route path="/agents/:name" element={<AgentPage />} />
          <Route path="/runs" element={<AgentRunsPage />} />
          <Route path="/runs/diff" element={<AgentRunDiffPage />} />
          <Route path="/runs/:runId" element={<AgentRunPage />} />
          <Route path="/runs/:runId/replay" element={<AgentRunReplayPage />} />
          <Route path="/approvals" element={<ApprovalsPage />} />
          <Route path="/datasets" element={<DatasetsPage />} />
          <Route path="/datasets/:name" element={<DatasetPage />} />
          <Route path="/track" element={<RunsTablePage />} />
          <Route path="/track/compare" element={<CompareRunsPage />} />
          <Route path="/track/charts" element={<ChartsPage />} />
          <Route path="/track/runs/:runId" element={<RunPage />} />
          <Route path="/track/dashboards" element={<DashboardsPage />} />
          <Route path="/track/dashboards/:id" element={<DashboardPage />} />
          <Route path="/track/reports" element={<ReportsPage />} />
          <Route path="/track/reports/:id" element={<ReportPage />} />
          <Route path="/settings" element={<SettingsPage />} />
          <Route path="*" element={<div className="page"><h1>Not found</h1><p>No page at this address.</p></div>} />
        </Route>
      </Routes>
    </BrowserRouter>
  )
}

connectFromLocation()
  .catch((err: unknown) => console.warn('the key in the address was not accepted', err))
  .finally(() => {
    current()
    createRoot(document.getElementById('root')!).render(<StrictMode><App /></StrictMode>)
  })
