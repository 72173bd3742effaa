"""Built-in scorers: rule-based, agent-specific and LLM judges, plus `define_scorer` for your own.

Every scorer is called with `(case, outcome)` and returns a `Score` (judges are async: use `run_scorer`).
"""

from neon.evaluate.scorers.base import FunctionScorer, define_scorer, make_score
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

__all__ = ["Contains", "ExactMatch", "FunctionScorer", "JsonSchema", "JsonValid", "NumericClose", "Regex", "contains",
           "define_scorer", "exact_match", "json_schema", "json_valid", "make_score", "numeric_close", "regex"]
