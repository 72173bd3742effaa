"""Evaluation: scorers, datasets, suites, runs and regression comparison."""

from neon.evaluate.compare import Comparison, bootstrap_mean_ci, compare_cases
from neon.evaluate.datasets import Dataset, DatasetError, load_dataset
from neon.evaluate.results import CaseResult, ScoreResult, summarize
from neon.evaluate.runner import RunResult, run_suite
from neon.evaluate.suites import EvalTest, Suite, SuiteError, define_suite, define_test, discover_suites
from neon.evaluate.types import Case, Outcome, Score, Scorer, ScoreType, ToolCall, run_scorer

__all__ = ["Case", "CaseResult", "Comparison", "Dataset", "DatasetError", "EvalTest", "Outcome", "RunResult",
           "Score", "ScoreResult", "ScoreType", "Scorer", "Suite", "SuiteError", "ToolCall", "bootstrap_mean_ci",
           "compare_cases", "define_suite", "define_test", "discover_suites", "load_dataset", "run_scorer",
           "run_suite", "summarize"]
