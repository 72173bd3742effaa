"""Formulas over float series (derived metrics), parsed into a typed tree — never spliced into SQL.

    formula   := [AGG "("] expr [")"]            AGG ∈ mean, median, min, max, std (a group's runs; outermost only)
    expr      := sum [CMP sum]                   CMP ∈ < <= > >= == !=   (1 or 0; comparisons do not chain)
    sum       := product (("+" | "-") product)*
    product   := unary (("*" | "/") unary)*
    unary     := ("-" | "+") unary | power
    power     := primary [("^" | "**") unary]    right-associative; -x^2 is -(x^2)
    primary   := NUMBER | REF | NAME "(" args ")" | "(" expr ")"
    REF       := "${" path "}"                   inside the path, \\} is "}" and \\\\ is "\\"
    NUMBER    := 12 | 1.5 | .5 | 1e-3 | inf | nan

Function names are case-sensitive and come from FUNCTIONS; their constant arguments (alpha, window, sigma, the
bounds of clip) must be literal numbers. Every error carries the 0-based character `position` where it went
wrong and what was `expected` there.
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass
from typing import Literal

from neon_server.track.formula_tree import (
    AGGREGATES,
    COMPARISONS,
    FUNCTIONS,
    KNOWN_NAMES,
    BinOp,
    Call,
    Formula,
    Function,
    Neg,
    Node,
    Num,
    Ref,
)

MAX_CHARS = 2_000
MAX_DEPTH = 64
MAX_REFERENCES = 16  # distinct paths
MAX_NODES = 256  # operators, functions, numbers and references: bounds the SQL a formula becomes
MAX_PATH_CHARS = 1_024


__all__ = ["AGGREGATES", "FUNCTIONS", "MAX_CHARS", "MAX_DEPTH", "MAX_NODES", "MAX_REFERENCES", "BinOp", "Call",
           "Formula", "FormulaError", "Function", "Neg", "Node", "Num", "Ref", "parse", "tokenize"]

class FormulaError(ValueError):
    """A formula that does not parse or breaks a limit: `position` is the character offset where it went wrong,
    `expected` what would have been right there."""

    def __init__(self, message: str, position: int, expected: str = "") -> None:
        super().__init__(f"{message} at {position}")
        self.reason = message
        self.position = position
        self.expected = expected


@dataclass(frozen=True)
class Token:
    kind: Literal["ref", "number", "name", "op", "(", ")", ",", "end"]
    text: str
    position: int
    value: float = 0.0


_SPACE = re.compile(r"\s+")
_NUMBER = re.compile(r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPS = ("**", "<=", ">=", "==", "!=", "+", "-", "*", "/", "^", "<", ">")


def tokenize(text: str) -> list[Token]:
    if len(text) > MAX_CHARS:
        raise FormulaError(f"formula longer than {MAX_CHARS} characters", MAX_CHARS, "the end of the formula")
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        space = _SPACE.match(text, i)
        if space:
            i = space.end()
            continue
        ch = text[i]
        if text.startswith("${", i):
            path, end = _reference(text, i)
            tokens.append(Token("ref", path, i))
            i = end
        elif ch in "(),":
            tokens.append(Token(ch, ch, i))  # type: ignore[arg-type]
            i += 1
        elif number := _NUMBER.match(text, i):
            tokens.append(Token("number", number.group(), i, float(number.group())))
            i = number.end()
        elif name := _NAME.match(text, i):
            word = name.group()
            if word in ("inf", "nan"):
                tokens.append(Token("number", word, i, float(word)))
            else:
                tokens.append(Token("name", word, i))
            i = name.end()
        elif op := next((o for o in _OPS if text.startswith(o, i)), None):
            tokens.append(Token("op", "^" if op == "**" else op, i))
            i += len(op)
        else:
            hint = " (a series is ${path})" if ch in "{}$" else ""
            raise FormulaError(f"unexpected character {ch!r}{hint}", i,
                               "a number, ${path}, a function, an operator or a bracket")
    tokens.append(Token("end", "", n))
    return tokens


def _reference(text: str, start: int) -> tuple[str, int]:
    """The path of `${…}` starting at `start` and the index after its `}`."""
    out: list[str] = []
    i, n = start + 2, len(text)
    while i < n:
        ch = text[i]
        if ch == "\\" and i + 1 < n and text[i + 1] in "}\\":
            out.append(text[i + 1])
            i += 2
        elif ch == "}":
            path = "".join(out)
            if not path:
                raise FormulaError("empty series path", start, "a path between ${ and }")
            if len(path) > MAX_PATH_CHARS:
                raise FormulaError(f"series path longer than {MAX_PATH_CHARS} characters", start, "a shorter path")
            return path, i + 1
        else:
            out.append(ch)
            i += 1
    raise FormulaError("unterminated series reference", start, '"}" to close ${')


def _describe(token: Token) -> str:
    if token.kind == "end":
        return "the end of the formula"
    if token.kind == "ref":
        return "${" + token.text[:40] + "}"
    return f'"{token.text[:40]}"'


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.i = 0
        self.nodes = 0
        self.references: dict[str, None] = {}
        self.functions: dict[str, None] = {}

    def peek(self, offset: int = 0) -> Token:
        return self.tokens[min(self.i + offset, len(self.tokens) - 1)]

    def take(self) -> Token:
        token = self.tokens[self.i]
        self.i = min(self.i + 1, len(self.tokens) - 1)
        return token

    def fail(self, expected: str, token: Token | None = None) -> FormulaError:
        token = token or self.peek()
        return FormulaError(f"expected {expected}, found {_describe(token)}", token.position, expected)

    def expect(self, kind: str, expected: str) -> Token:
        if self.peek().kind != kind:
            raise self.fail(expected)
        return self.take()

    def count(self, token: Token) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise FormulaError(f"more than {MAX_NODES} numbers, references, operators and functions",
                               token.position, "a shorter formula")

    def parse(self) -> Formula:
        if self.peek().kind == "end":
            raise FormulaError("empty formula", 0, "an expression, e.g. ema(${train/loss}, 0.1)")
        aggregate = None
        first = self.peek()
        if (first.kind == "name" and first.text in AGGREGATES and self.peek(1).kind == "(" and
                not (first.text in ("min", "max") and self._two_arguments())):
            aggregate = first.text
            self.functions[aggregate] = None
            self.take()
            self.take()
            root = self.expr(1)
            self.expect(")", f'")" to close {aggregate}(')
            if self.peek().kind != "end":
                raise FormulaError(f"{aggregate}() aggregates a group's runs: it must enclose the whole formula",
                                   self.peek().position, "the end of the formula")
        else:
            root = self.expr(0)
        token = self.peek()
        if token.kind != "end":
            raise self.fail("an operator or the end of the formula", token)
        return Formula(root, aggregate, tuple(self.references), tuple(self.functions))

    def _two_arguments(self) -> bool:
        """Whether the call at the cursor (NAME "(") has a top-level comma: min(a, b) is elementwise."""
        depth = 0
        for token in self.tokens[self.i + 1:]:
            if token.kind == "(":
                depth += 1
            elif token.kind == ")":
                depth -= 1
                if depth == 0:
                    return False
            elif token.kind == "," and depth == 1:
                return True
        return False

    def expr(self, depth: int) -> Node:
        left = self.sum(depth)
        token = self.peek()
        if token.kind == "op" and token.text in COMPARISONS:
            self.take()
            self.count(token)
            node = BinOp(token.text, left, self.sum(depth), token.position)  # type: ignore[arg-type]
            after = self.peek()
            if after.kind == "op" and after.text in COMPARISONS:
                raise FormulaError("comparisons do not chain: use brackets, e.g. (a < b) * (b < c)",
                                   after.position, "an arithmetic operator, a bracket or the end")
            return node
        return left

    def sum(self, depth: int) -> Node:
        node = self.product(depth)
        while (token := self.peek()).kind == "op" and token.text in "+-":
            self.take()
            self.count(token)
            node = BinOp(token.text, node, self.product(depth), token.position)  # type: ignore[arg-type]
        return node

    def product(self, depth: int) -> Node:
        node = self.unary(depth)
        while (token := self.peek()).kind == "op" and token.text in "*/":
            self.take()
            self.count(token)
            node = BinOp(token.text, node, self.unary(depth), token.position)  # type: ignore[arg-type]
        return node

    def unary(self, depth: int) -> Node:
        token = self.peek()
        if depth > MAX_DEPTH:
            raise FormulaError(f"nested deeper than {MAX_DEPTH} levels", token.position, "a flatter formula")
        if token.kind == "op" and token.text in "+-":
            self.take()
            self.count(token)
            arg = self.unary(depth + 1)
            return arg if token.text == "+" else Neg(arg, token.position)
        return self.power(depth)

    def power(self, depth: int) -> Node:
        base = self.primary(depth)
        token = self.peek()
        if token.kind == "op" and token.text == "^":
            self.take()
            self.count(token)
            return BinOp("^", base, self.unary(depth + 1), token.position)
        return base

    def primary(self, depth: int) -> Node:
        token = self.peek()
        if token.kind == "number":
            self.take()
            self.count(token)
            return Num(token.value, token.position)
        if token.kind == "ref":
            self.take()
            self.count(token)
            if token.text not in self.references and len(self.references) >= MAX_REFERENCES:
                raise FormulaError(f"more than {MAX_REFERENCES} different series", token.position,
                                   "at most 16 different ${path} references")
            self.references[token.text] = None
            return Ref(token.text, token.position)
        if token.kind == "(":
            self.take()
            node = self.expr(depth + 1)
            self.expect(")", '")"')
            return node
        if token.kind == "name":
            return self.call(depth)
        raise self.fail("a number, ${path}, a function or \"(\"")

    def call(self, depth: int) -> Call:
        token = self.take()
        self.count(token)
        name = token.text
        if (name in AGGREGATES and name not in FUNCTIONS) or (name in ("min", "max") and not self._two_here()):
            raise FormulaError(f"{name}() aggregates a group's runs: it must enclose the whole formula, "
                               f"e.g. {name}(ema(${{loss}}, 0.1))", token.position,
                               "a function that works on one series")
        function = FUNCTIONS.get(name)
        if function is None and self.peek().kind != "(":
            raise FormulaError(f'"{name}" is not a number nor a function: a series is written ${{{name}}}',
                               token.position, "a number, ${path}, a function or \"(\"")
        if function is None:
            close = difflib.get_close_matches(name, KNOWN_NAMES, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise FormulaError(f'unknown function "{name}"{hint}', token.position,
                               "one of " + ", ".join(KNOWN_NAMES))
        self.functions[name] = None
        self.expect("(", f'"(" after {name}')
        args: list[Node] = []
        params: list[float] = []
        for i in range(function.series + len(function.params)):
            if i:
                self.expect(",", f'"," and {name}\'s {_argument(function, i)}')
            if i < function.series:
                args.append(self.expr(depth + 1))
            else:
                params.append(self.literal(function, i))
        if self.peek().kind == ",":
            raise FormulaError(f"{name}() takes {_arity(function)}", self.peek().position, f'")" to close {name}(')
        self.expect(")", f'")" to close {name}(')
        return Call(name, tuple(args), tuple(params), token.position)

    def _two_here(self) -> bool:
        return self._two_arguments_at(self.i - 1)

    def _two_arguments_at(self, index: int) -> bool:
        saved = self.i
        self.i = index
        try:
            return self._two_arguments()
        finally:
            self.i = saved

    def literal(self, function: Function, index: int) -> float:
        what = function.params[index - function.series]
        start = self.peek()
        sign = 1.0
        if start.kind == "op" and start.text in "+-":
            sign = -1.0 if start.text == "-" else 1.0
            self.take()
        token = self.peek()
        if token.kind != "number":
            raise FormulaError(f"{function.name}'s {what} must be a literal number", token.position,
                               f"a number for {what}")
        self.take()
        value = sign * token.value
        _check_param(function.name, what, value, start.position)
        return value


def _check_param(name: str, what: str, value: float, position: int) -> None:
    problem = ""
    if what == "alpha" and not 0 < value <= 1:
        problem = "alpha must be in (0, 1]"
    elif what == "window" and not (value.is_integer() and 1 <= value <= 10_000):
        problem = "window must be a whole number of points from 1 to 10,000"
    elif what == "sigma" and not 0 < value <= 1_000:
        problem = "sigma must be above 0 and at most 1,000 (points)"
    elif what in ("lo", "hi") and math.isnan(value):
        problem = f"clip's {what} must not be NaN"
    if problem:
        raise FormulaError(f"{name}: {problem}", position, problem.split(" must be ")[-1])


def _argument(function: Function, index: int) -> str:
    return "series" if index < function.series else function.params[index - function.series]


def _arity(function: Function) -> str:
    names = ["series"] * function.series + list(function.params)
    return f"{len(names)} argument{'s' if len(names) > 1 else ''} ({', '.join(names)})"


def parse(text: str) -> Formula:
    """The formula's tree; FormulaError (with position and expected) when it does not parse."""
    formula = _Parser(text).parse()
    _check_clip(formula.root)
    return formula


def _check_clip(node: Node) -> None:
    if isinstance(node, Call):
        if node.name == "clip" and node.params[0] > node.params[1]:
            raise FormulaError("clip: lo must not be above hi", node.position, "lo ≤ hi")
        for arg in node.args:
            _check_clip(arg)
    elif isinstance(node, BinOp):
        _check_clip(node.left)
        _check_clip(node.right)
    elif isinstance(node, Neg):
        _check_clip(node.arg)
