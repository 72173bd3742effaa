"""The `neon` command."""
