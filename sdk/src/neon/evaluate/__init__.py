"""Evaluation: scorers, datasets, suites, runs and regression comparison."""

from neon.evaluate.types import Case, Outcome, Score, Scorer, ScoreType, ToolCall, run_scorer

__all__ = ["Case", "Outcome", "Score", "ScoreType", "Scorer", "ToolCall", "run_scorer"]
