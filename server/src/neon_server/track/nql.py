"""NQL, Neptune's query language for runs, parsed into a tree (never spliced into SQL).

The grammar, as neptune-query sends it and as people type it:

    expr  := or
    or    := and ("OR" and)*
    and   := unary ("AND" unary)*
    unary := "NOT" unary | "(" expr ")" | pred
    pred  := attr OP value | attr "EXISTS" | attr "NOT" "EXISTS"
    attr  := [AGG "("] NAME [":" TYPE] [")"]         AGG ∈ last, min, max, average, variance
    NAME  := `back-quoted` (`` ` `` doubled or \\-escaped inside) | bare name (letters, digits, _ - / . :)
    OP    := == | = | != | > | >= | < | <= | MATCHES | NOT MATCHES | CONTAINS | NOT CONTAINS
    value := "double-quoted string" (\\" and \\\\ escaped) | a bare number, true or false

Keywords are case-insensitive. AND binds tighter than OR. Values are strings that the compiler converts to the
attribute's type. Every error names the position (0-based character offset) and what was expected there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

MAX_QUERY_CHARS = 100_000
MAX_DEPTH = 64
MAX_PREDICATES = 1_000
AGGREGATES = ("last", "min", "max", "average", "variance")
TYPES = ("float", "int", "bool", "string", "datetime", "stringSet", "floatSeries", "stringSeries",
         "histogramSeries", "fileRef", "fileRefSeries", "experimentState")
OPERATORS = ("==", "!=", ">", ">=", "<", "<=", "MATCHES", "NOT MATCHES", "CONTAINS", "NOT CONTAINS")
Operator = Literal["==", "!=", ">", ">=", "<", "<=", "MATCHES", "NOT MATCHES", "CONTAINS", "NOT CONTAINS",
                   "EXISTS", "NOT EXISTS"]


class NQLError(ValueError):
    """A query that does not parse: `position` is the character offset where it went wrong."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"NQL: {message} (at character {position})")
        self.reason = message
        self.position = position


@dataclass(frozen=True)
class Attribute:
    name: str
    type: str | None = None  # None: not given (strings, unless the store knows better)
    aggregate: str | None = None  # for series: last, min, max, average, variance


@dataclass(frozen=True)
class Predicate:
    attribute: Attribute
    operator: Operator
    value: str = ""
    position: int = 0  # where the condition starts in the query, for errors found later (a bad value)


@dataclass(frozen=True)
class Not:
    child: Node


@dataclass(frozen=True)
class BoolOp:
    op: Literal["AND", "OR"]
    children: tuple[Node, ...]


Node = Predicate | Not | BoolOp


@dataclass(frozen=True)
class Token:
    kind: Literal["name", "string", "word", "op", "(", ")", ":", "end"]
    text: str
    position: int


_SPACE = re.compile(r"\s+")
_WORD = re.compile(r"[A-Za-z0-9_./\-+]+(?:[A-Za-z0-9_./\-+]|:(?=[A-Za-z0-9_]))*")
_OPS = ("==", "!=", ">=", "<=", "=", ">", "<")


def tokenize(text: str) -> list[Token]:
    if len(text) > MAX_QUERY_CHARS:
        raise NQLError(f"query longer than {MAX_QUERY_CHARS} characters", MAX_QUERY_CHARS)
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        space = _SPACE.match(text, i)
        if space:
            i = space.end()
            continue
        ch = text[i]
        if ch == "`":
            name, i2 = _quoted(text, i, "`")
            tokens.append(Token("name", name, i))
            i = i2
        elif ch == '"':
            value, i2 = _quoted(text, i, '"')
            tokens.append(Token("string", value, i))
            i = i2
        elif ch in "()":
            tokens.append(Token(ch, ch, i))  # type: ignore[arg-type]
            i += 1
        elif ch == ":":
            tokens.append(Token(":", ":", i))
            i += 1
        else:
            op = next((o for o in _OPS if text.startswith(o, i)), None)
            if op is not None:
                tokens.append(Token("op", "==" if op == "=" else op, i))
                i += len(op)
                continue
            word = _WORD.match(text, i)
            if not word:
                raise NQLError(f"unexpected character {ch!r}", i)
            tokens.append(Token("word", word.group(), i))
            i = word.end()
    tokens.append(Token("end", "", n))
    return tokens


def _quoted(text: str, start: int, quote: str) -> tuple[str, int]:
    """A quoted string from `start` (the opening quote): its value and the index after the closing quote.
    Inside, a backslash escapes the next character; a back-quoted name may also double its quote."""
    out: list[str] = []
    i = start + 1
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "\\" and i + 1 < n:
            out.append(text[i + 1])
            i += 2
        elif ch == quote:
            if quote == "`" and i + 1 < n and text[i + 1] == "`":
                out.append("`")
                i += 2
            else:
                return "".join(out), i + 1
        else:
            out.append(ch)
            i += 1
    what = "attribute name" if quote == "`" else "string"
    raise NQLError(f"unterminated {what}: expected a closing {quote}", start)


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.i = 0
        self.predicates = 0

    def peek(self, offset: int = 0) -> Token:
        return self.tokens[min(self.i + offset, len(self.tokens) - 1)]

    def take(self) -> Token:
        token = self.tokens[self.i]
        self.i = min(self.i + 1, len(self.tokens) - 1)
        return token

    def keyword(self, word: str, offset: int = 0) -> bool:
        token = self.peek(offset)
        return token.kind == "word" and token.text.upper() == word

    def expect(self, kind: str, what: str) -> Token:
        token = self.peek()
        if token.kind != kind:
            raise NQLError(f"expected {what}, found {_describe(token)}", token.position)
        return self.take()

    def parse(self) -> Node:
        if self.peek().kind == "end":
            raise NQLError("empty query: expected a condition", 0)
        node = self.or_(0)
        token = self.peek()
        if token.kind != "end":
            raise NQLError(f"expected AND, OR or the end of the query, found {_describe(token)}", token.position)
        return node

    def or_(self, depth: int) -> Node:
        children = [self.and_(depth)]
        while self.keyword("OR"):
            self.take()
            children.append(self.and_(depth))
        return children[0] if len(children) == 1 else BoolOp("OR", tuple(children))

    def and_(self, depth: int) -> Node:
        children = [self.unary(depth)]
        while self.keyword("AND"):
            self.take()
            children.append(self.unary(depth))
        return children[0] if len(children) == 1 else BoolOp("AND", tuple(children))

    def unary(self, depth: int) -> Node:
        if depth > MAX_DEPTH:
            raise NQLError(f"nested deeper than {MAX_DEPTH} levels", self.peek().position)
        if self.keyword("NOT"):
            self.take()
            return Not(self.unary(depth + 1))
        if self.peek().kind == "(":
            self.take()
            node = self.or_(depth + 1)
            self.expect(")", "')'")
            return node
        return self.predicate()

    def predicate(self) -> Predicate:
        start = self.peek()
        attribute = self.attribute()
        self.predicates += 1
        if self.predicates > MAX_PREDICATES:
            raise NQLError(f"more than {MAX_PREDICATES} conditions", start.position)
        token = self.peek()
        if self.keyword("EXISTS"):
            self.take()
            return Predicate(attribute, "EXISTS", position=start.position)
        if self.keyword("NOT") and self.keyword("EXISTS", 1):
            self.take()
            self.take()
            return Predicate(attribute, "NOT EXISTS", position=start.position)
        operator: str
        if token.kind == "op":
            operator = self.take().text
        elif self.keyword("MATCHES") or self.keyword("CONTAINS"):
            operator = self.take().text.upper()
        elif self.keyword("NOT") and (self.keyword("MATCHES", 1) or self.keyword("CONTAINS", 1)):
            self.take()
            operator = "NOT " + self.take().text.upper()
        else:
            raise NQLError(f"expected an operator ({', '.join(OPERATORS)}) or EXISTS after the attribute, "
                           f"found {_describe(token)}", token.position)
        value = self.peek()
        if value.kind == "string" or (value.kind == "word" and not _is_keyword(value.text)):
            self.take()
            return Predicate(attribute, operator, value.text, start.position)  # type: ignore[arg-type]
        raise NQLError(f"expected a value (a double-quoted string) after {operator}, found {_describe(value)}",
                       value.position)

    def attribute(self) -> Attribute:
        token = self.peek()
        aggregate = None
        if (token.kind == "word" and token.text.lower() in AGGREGATES and self.peek(1).kind == "("):
            aggregate = self.take().text.lower()
            self.take()
        name = self.peek()
        if name.kind == "name" or (name.kind == "word" and not _is_keyword(name.text)):
            self.take()
        else:
            raise NQLError(f"expected an attribute name (`quoted` in back-quotes), found {_describe(name)}",
                           name.position)
        if not name.text:
            raise NQLError("an attribute name is empty", name.position)
        kind = None
        if self.peek().kind == ":":
            self.take()
            type_token = self.expect("word", "an attribute type after ':'")
            kind = next((t for t in TYPES if t.lower() == type_token.text.lower()), None)
            if kind is None:
                raise NQLError(f"unknown attribute type {type_token.text!r}: expected one of {', '.join(TYPES)}",
                               type_token.position)
        if aggregate is not None:
            self.expect(")", f"')' to close {aggregate}(")
        return Attribute(name.text, kind, aggregate)


_KEYWORDS = frozenset({"AND", "OR", "NOT", "MATCHES", "CONTAINS", "EXISTS"})


def _is_keyword(word: str) -> bool:
    return word.upper() in _KEYWORDS


def _describe(token: Token) -> str:
    if token.kind == "end":
        return "the end of the query"
    if token.kind == "string":
        return f'"{token.text[:40]}"'
    if token.kind == "name":
        return f"`{token.text[:40]}`"
    return repr(token.text[:40])


def parse(text: str) -> Node:
    """The query's tree; NQLError (with the position) when it does not parse."""
    return _Parser(text).parse()
