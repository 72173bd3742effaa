import { NavLink } from 'react-router'

/** Track's own pages: the runs table, dashboards and reports. */
export function TrackNav() {
  const links = [
    { to: '/track', label: 'Runs', end: true },
    { to: '/track/dashboards', label: 'Dashboards', end: false },
    { to: '/track/reports', label: 'Reports', end: false },
  ]
  return (
    <nav className="track-nav no-print" aria-label="Track">
      {links.map((l) => (
        <NavLink key={l.to} to={l.to} end={l.end} className={({ isActive }) => (isActive ? 'active' : '')}>
          {l.label}
        </NavLink>
      ))}
    </nav>
  )
}
