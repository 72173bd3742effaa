"""Neon's native ingest helpers (C extensions built when the package is installed)."""
