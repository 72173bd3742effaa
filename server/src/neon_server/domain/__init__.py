"""Plain data types shared across layers (no I/O)."""
