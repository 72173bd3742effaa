"""Durable agent runs: specs, the Temporal workflow and its activities (extra: neon[agents])."""
