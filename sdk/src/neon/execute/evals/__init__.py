"""Eval runs as Temporal workflows: a parent `neon.eval_run` that runs one child `neon.eval_case` per case,
a bounded number at a time, and closes the run once every child has finished (docs/evaluation.md)."""
