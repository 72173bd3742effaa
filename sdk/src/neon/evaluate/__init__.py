"""Evaluation: scorers, datasets, suites, runs and regression comparison."""

from neon.evaluate.scorers import (
    contains,
    define_scorer,
    exact_match,
    json_schema,
    json_valid,
    numeric_close,
    regex,
)
from neon.evaluate.types import Case, Outcome, Score, Scorer, ScoreType, ToolCall, run_scorer

__all__ = ["Case", "Outcome", "Score", "ScoreType", "Scorer", "ToolCall", "contains", "define_scorer", "exact_match",
           "json_schema", "json_valid", "numeric_close", "regex", "run_scorer"]
