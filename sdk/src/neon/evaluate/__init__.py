"""Evaluation: scorers, datasets, suites, runs and regression comparison."""

from neon.evaluate.scorers import (
    contains,
    cost_budget,
    define_scorer,
    efficiency,
    exact_match,
    factuality,
    grounding,
    json_schema,
    json_valid,
    latency_budget,
    llm_judge,
    numeric_close,
    reasoning_quality,
    regex,
    relevance,
    safety,
    termination,
    tool_selection,
)
from neon.evaluate.types import Case, Outcome, Score, Scorer, ScoreType, ToolCall, run_scorer

__all__ = ["Case", "Outcome", "Score", "ScoreType", "Scorer", "ToolCall", "contains", "cost_budget", "define_scorer",
           "efficiency", "exact_match", "factuality", "grounding", "json_schema", "json_valid", "latency_budget",
           "llm_judge", "numeric_close", "reasoning_quality", "regex", "relevance", "run_scorer", "safety",
           "termination", "tool_selection"]
