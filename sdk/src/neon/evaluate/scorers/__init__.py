"""Built-in scorers: rule-based, agent-specific and LLM judges, plus `define_scorer` for your own.

Every scorer is called with `(case, outcome)` and returns a `Score` (judges are async: use `run_scorer`).
"""

from neon.evaluate.scorers.agent import (
    CostBudget,
    Efficiency,
    LatencyBudget,
    Termination,
    ToolSelection,
    cost_budget,
    efficiency,
    latency_budget,
    termination,
    tool_selection,
)
from neon.evaluate.scorers.base import FunctionScorer, define_scorer, make_score
from neon.evaluate.scorers.judges import (
    GroundingJudge,
    LLMJudge,
    factuality,
    grounding,
    llm_judge,
    reasoning_quality,
    relevance,
    safety,
)
from neon.evaluate.scorers.parsing import Judgment, parse_judgment
from neon.evaluate.scorers.rules import (
    Contains,
    ExactMatch,
    JsonSchema,
    JsonValid,
    NumericClose,
    Regex,
    contains,
    exact_match,
    json_schema,
    json_valid,
    numeric_close,
    regex,
)

__all__ = [
    "Contains", "CostBudget", "Efficiency", "ExactMatch", "FunctionScorer", "GroundingJudge", "JsonSchema",
    "JsonValid", "Judgment", "LLMJudge", "LatencyBudget", "NumericClose", "Regex", "Termination", "ToolSelection",
    "contains", "cost_budget", "define_scorer", "efficiency", "exact_match", "factuality", "grounding",
    "json_schema", "json_valid", "latency_budget", "llm_judge", "make_score", "numeric_close", "parse_judgment",
    "reasoning_quality", "regex", "relevance", "safety", "termination", "tool_selection",
]
