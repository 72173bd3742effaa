import { NavLink, Outlet, useNavigate } from 'react-router'
import { choose, connections, current } from '../api/auth'
import { usePendingApprovals } from '../features/approvals/pending'

const NAV = [
  { to: '/traces', label: 'Traces' },
  { to: '/sessions', label: 'Sessions' },
  { to: '/analytics', label: 'Analytics' },
  { to: '/evals', label: 'Evals' },
  { to: '/datasets', label: 'Datasets' },
  { to: '/agents', label: 'Agents' },
  { to: '/runs', label: 'Runs' },
  { to: '/approvals', label: 'Approvals' },
  { to: '/track', label: 'Track' },
  { to: '/settings', label: 'Settings' },
]

export function Layout() {
  const navigate = useNavigate()
  const here = current()
  const all = connections()
  const pending = usePendingApprovals()
  return (
    <div className="app">
      <header className="topbar">
        <a className="brand" href="/traces" onClick={(e) => { e.preventDefault(); navigate('/traces') }}>
          <span className="brand-mark" aria-hidden>◆</span> Neon
        </a>
        <nav className="nav">
          {NAV.map((item) => (
            <NavLink key={item.to} to={item.to} className={({ isActive }) => (isActive ? 'active' : '')}>
              {item.label}
              {item.to === '/approvals' && pending > 0 && (
                <span className="nav-count" aria-label={`${pending} waiting`}>{pending}</span>)}
            </NavLink>
          ))}
        </nav>
        <div className="project-switch">
          <label htmlFor="project">Project</label>
          <select
            id="project"
            value={here?.projectId ?? ''}
            onChange={(e) => {
              if (e.target.value === '+') return navigate('/connect')
              choose(e.target.value)
              navigate('/traces')
              window.location.reload()
            }}
          >
            {all.map((c) => (
              <option key={c.projectId} value={c.projectId}>{c.projectName}</option>
            ))}
            <option value="+">Add a project…</option>
          </select>
        </div>
      </header>
      <main className="content">
        <Outlet />
      </main>
    </div>
  )
}
