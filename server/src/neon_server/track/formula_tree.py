"""The typed tree a formula parses into (`track/formula.py`), and the table of its functions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

AGGREGATES = ("mean", "median", "min", "max", "std")
BinaryOp = Literal["+", "-", "*", "/", "^", "<", "<=", ">", ">=", "==", "!="]
COMPARISONS = ("<=", ">=", "==", "!=", "<", ">")


@dataclass(frozen=True)
class Function:
    name: str
    series: int  # series arguments, first
    params: tuple[str, ...]  # constant arguments after them (literal numbers)
    stateful: bool  # evaluated over the step-ordered series, not step by step
    definition: str


FUNCTIONS: dict[str, Function] = {f.name: f for f in (
    Function("ema", 1, ("alpha",), True, "exponential moving average, debiased: Σ (1-α)^(t-i)·x_i / Σ (1-α)^(t-i)"),
    Function("sma", 1, ("window",), True, "mean of the last `window` points (fewer at the start)"),
    Function("gaussian", 1, ("sigma",), True, "Gaussian-weighted mean of the points within ±ceil(3σ) points"),
    Function("diff", 1, (), True, "x_t - x_(t-1); no point at the first step"),
    Function("rate", 1, (), True, "(x_t - x_(t-1)) / (step_t - step_(t-1)); no point at the first step"),
    Function("cumsum", 1, (), True, "sum of the points so far"),
    Function("cummin", 1, (), True, "smallest point so far (NaN skipped)"),
    Function("cummax", 1, (), True, "largest point so far (NaN skipped)"),
    Function("normalize", 1, (), True, "x / the series' first finite value"),
    Function("log", 1, (), False, "natural logarithm (NaN below 0, -Inf at 0)"),
    Function("log10", 1, (), False, "base-10 logarithm"),
    Function("exp", 1, (), False, "e^x"),
    Function("abs", 1, (), False, "|x|"),
    Function("sqrt", 1, (), False, "square root (NaN below 0)"),
    Function("clip", 1, ("lo", "hi"), False, "x bounded to [lo, hi] (NaN stays NaN)"),
    Function("min", 2, (), False, "the smaller of two series at each step (NaN if either is)"),
    Function("max", 2, (), False, "the larger of two series at each step (NaN if either is)"),
)}
KNOWN_NAMES = tuple(sorted({*FUNCTIONS, *AGGREGATES}))


@dataclass(frozen=True)
class Ref:
    path: str
    position: int


@dataclass(frozen=True)
class Num:
    value: float
    position: int


@dataclass(frozen=True)
class Neg:
    arg: Node
    position: int


@dataclass(frozen=True)
class BinOp:
    op: BinaryOp
    left: Node
    right: Node
    position: int


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple[Node, ...]  # series arguments
    params: tuple[float, ...]  # constant arguments, checked
    position: int


Node = Ref | Num | Neg | BinOp | Call


@dataclass(frozen=True)
class Formula:
    root: Node
    aggregate: str | None  # across a group's runs, or None
    references: tuple[str, ...]  # distinct paths, in order of first appearance
    functions: tuple[str, ...]  # distinct names used (the aggregate included)

    @property
    def stateful(self) -> bool:
        """Whether a function works over the step-ordered series (then a window cannot be applied early)."""
        return _stateful(self.root)


def _stateful(node: Node) -> bool:
    if isinstance(node, Call):
        return FUNCTIONS[node.name].stateful or any(_stateful(a) for a in node.args)
    if isinstance(node, BinOp):
        return _stateful(node.left) or _stateful(node.right)
    if isinstance(node, Neg):
        return _stateful(node.arg)
    return False
