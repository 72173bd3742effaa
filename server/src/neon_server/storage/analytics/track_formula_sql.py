"""The formula tree as SQL over aligned points: only our own fragments, every number a bound parameter.

Layer 0 is the aligned points (sid, step, v0, v1, …); layer s evaluates the window functions whose argument is
ready in layer s-1, then the scalar expressions over them. Window functions cannot nest in one SELECT, so each
function that looks along the series adds a layer; every scalar node is a column alias, so a subexpression used
twice (min, max, clip) is written once.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from neon_server.track.formula import BinOp, Call, Neg, Node, Num, Ref

Binder = Callable[[Any, str], str]
_ELEMENTWISE = {"log": "log", "log10": "log10", "exp": "exp", "abs": "abs", "sqrt": "sqrt"}
_ARITHMETIC = {"+": "+", "-": "-", "*": "*", "/": "/"}
_COMPARE = {"<": "<", "<=": "<=", ">": ">", ">=": ">=", "==": "=", "!=": "!="}


class Compiler:
    """The formula tree as layers of SQL: layer 0 aligns the points; layer s evaluates the window functions
    whose argument is ready in layer s-1, then the scalar expressions over them."""

    def __init__(self, bind: Binder, references: Sequence[str], *, steps_are_rows: bool = False,
                 one_run: bool = False) -> None:
        """`steps_are_rows`: the aligned steps are consecutive integers, so a step counts rows as well as a row
        number would (ema then needs no row-number pass). `one_run`: windows need no partition by run (sorting
        on one key costs the window's sort less)."""
        self.bind = bind
        w = "ORDER BY step" if one_run else "PARTITION BY sid ORDER BY step"
        self.ordered = w
        self.cumulative = f"({w} ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)"
        self.previous = f"({w} ROWS BETWEEN 1 PRECEDING AND CURRENT ROW)"
        self.whole = "()" if one_run else "(PARTITION BY sid)"
        self.steps_are_rows = steps_are_rows
        self.refs = {path: i for i, path in enumerate(references)}
        self.windows: list[list[str]] = [[]]
        self.scalars: list[list[str]] = [[]]
        self.numbered: set[int] = set()  # layers that need a row number (for ema)
        self.count = 0

    def _alias(self) -> str:
        self.count += 1
        return f"e{self.count}"

    def _add(self, kind: list[list[str]], stage: int, sql: str) -> str:
        while len(self.windows) <= stage:
            self.windows.append([])
            self.scalars.append([])
        alias = self._alias()
        kind[stage].append(f"{sql} AS {alias}")
        return alias

    def scalar(self, stage: int, sql: str) -> tuple[str, int]:
        self._add(self.scalars, stage, sql)
        return self.scalars[stage][-1].rsplit(" AS ", 1)[1], stage

    def window(self, stage: int, sql: str) -> tuple[str, int]:
        self._add(self.windows, stage, sql)
        return self.windows[stage][-1].rsplit(" AS ", 1)[1], stage

    def node(self, node: Node) -> tuple[str, int]:  # noqa: PLR0911 - one answer per kind of node
        if isinstance(node, Ref):
            return f"v{self.refs[node.path]}", 0
        if isinstance(node, Num):
            return self.bind(node.value, "Float64"), 0
        if isinstance(node, Neg):
            arg, stage = self.node(node.arg)
            return self.scalar(stage, f"-{arg}")
        if isinstance(node, BinOp):
            (left, ls), (right, rs) = self.node(node.left), self.node(node.right)
            stage = max(ls, rs)
            if node.op == "^":
                return self.scalar(stage, f"pow({left}, {right})")
            if node.op in _COMPARE:
                return self.scalar(stage, f"toFloat64({left} {_COMPARE[node.op]} {right})")
            return self.scalar(stage, f"({left} {_ARITHMETIC[node.op]} {right})")
        return self.call(node)

    def call(self, node: Call) -> tuple[str, int]:
        args = [self.node(a) for a in node.args]
        stage = max(s for _, s in args)
        a = args[0][0]
        name = node.name
        if name in _ELEMENTWISE:
            return self.scalar(stage, f"{_ELEMENTWISE[name]}({a})")
        if name == "clip":
            lo, hi = (self.bind(p, "Float64") for p in node.params)
            return self.scalar(stage, f"if({a} IS NULL OR isNaN({a}), {a}, least(greatest({a}, {lo}), {hi}))")
        if name in ("min", "max"):
            b = args[1][0]
            pick = "least" if name == "min" else "greatest"
            return self.scalar(stage, f"if({a} IS NULL OR {b} IS NULL, NULL, "
                                      f"if(isNaN({a}) OR isNaN({b}), nan, {pick}({a}, {b})))")
        return self.stateful(node, a, stage + 1)

    def stateful(self, node: Call, a: str, stage: int) -> tuple[str, int]:  # noqa: PLR0911
        name = node.name
        if name == "cumsum":
            return self.window(stage, f"sum({a}) OVER {self.cumulative}")
        if name in ("cummin", "cummax"):
            return self.window(stage, f"{name[3:]}({a}) OVER {self.cumulative}")
        if name == "sma":
            back = self.bind(int(node.params[0]) - 1, "UInt64")
            return self.window(stage, f"avg({a}) OVER ({self.ordered} ROWS BETWEEN {back} PRECEDING AND CURRENT ROW)")
        if name == "ema":
            alpha = node.params[0]
            if alpha == 1:
                return a, stage - 1
            tau = self.bind(-1 / math.log1p(-alpha), "Float64")
            if self.steps_are_rows:
                at = "step"
            else:
                self.numbered.add(stage - 1)
                at = f"toFloat64(rn{stage - 1})"
            if not nullable(node.args[0]):
                return self.window(stage, f"exponentialTimeDecayedAvg({tau})({a}, {at}) OVER {self.cumulative}")
            # a NULL row (before a diff's first point) is placed so far in the past that its weight is 0
            weighed = f"ifNull({a}, 0), if({a} IS NULL, -1e18, {at})"
            ema = f"exponentialTimeDecayedAvg({tau})({weighed}) OVER {self.cumulative}"
            return self.window(stage, f"if({a} IS NULL, NULL, {ema})")
        if name == "gaussian":
            return self.gaussian(node, a, stage)
        if name in ("diff", "rate"):  # NULL at the first step: no point there (NULL propagates, aggregates skip it)
            change = f"({a} - lagInFrame(toNullable({a}), 1) OVER {self.previous})"
            if name == "rate":
                change = f"{change} / (step - lagInFrame(toNullable(step), 1) OVER {self.previous})"
            return self.window(stage, change)
        # normalize: x / the series' first finite value (NaN when it has none)
        first = f"argMinIf({a}, step, isFinite({a})) OVER {self.whole}"
        return self.window(stage, f"if(countIf(isFinite({a})) OVER {self.whole} > 0, {a} / {first}, nan)")

    def gaussian(self, node: Call, a: str, stage: int) -> tuple[str, int]:
        """Σ x_j·w(j-t) / Σ w(j-t) over the frame of ±k points; rows where the argument is NULL (before a diff's
        first point) weigh nothing."""
        sigma = node.params[0]
        k = math.ceil(3 * sigma)
        weights = self.bind([math.exp(-(d * d) / (2 * sigma * sigma)) for d in range(-k, k + 1)], "Array(Float64)")
        bound = self.bind(k, "UInt64")
        frame = f"({self.ordered} ROWS BETWEEN {bound} PRECEDING AND {bound} FOLLOWING)"
        # the frame starts k rows before the current one, or at the partition's first row
        first = f"greatest({self.bind(k + 1, 'Int64')} - row_number() OVER {self.cumulative}, 0) + 1"
        if not nullable(node.args[0]):
            values = f"groupArray({a}) OVER {frame}"
            used = f"arraySlice({weights}, {first}, length({values}))"
            return self.window(stage, f"arrayDotProduct({values}, {used}) / arraySum({used})")
        pairs = f"groupArray((isNull({a}), ifNull({a}, 0))) OVER {frame}"
        used = f"arraySlice({weights}, {first}, length({pairs}))"
        total = f"arraySum(arrayMap((p, w) -> if(p.1, 0, p.2 * w), {pairs}, {used}))"
        weight = f"arraySum(arrayMap((p, w) -> if(p.1, 0, w), {pairs}, {used}))"
        return self.window(stage, f"if({a} IS NULL, NULL, {total} / {weight})")

    def layers(self, aligned: str, root: str) -> str:
        """The (sid, step, value) rows of the formula over `aligned` (sid, step, v0, v1, …); a step where the
        value is NULL (before a diff's first point) has no point."""
        sql = aligned
        for stage in range(len(self.windows)):
            if stage > 0:
                sql = f"SELECT *, {', '.join(self.windows[stage])} FROM ({sql})"
            columns = list(self.scalars[stage])
            if stage in self.numbered:
                columns.append(f"row_number() OVER {self.cumulative} AS rn{stage}")
            if columns:
                sql = f"SELECT *, {', '.join(columns)} FROM ({sql})"
        return f"SELECT sid, step, assumeNotNull({root}) AS value FROM ({sql}) WHERE {root} IS NOT NULL"


def nullable(node: Node) -> bool:
    """Whether the series may hold NULLs (rows before a diff's or rate's first point)."""
    if isinstance(node, Call):
        return node.name in ("diff", "rate") or any(nullable(a) for a in node.args)
    if isinstance(node, BinOp):
        return nullable(node.left) or nullable(node.right)
    if isinstance(node, Neg):
        return nullable(node.arg)
    return False
