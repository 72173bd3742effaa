"""The formula grammar: every operator and function, precedence, limits, and the position of every error."""

from __future__ import annotations

import pytest

from neon_server.track.formula import (
    FUNCTIONS,
    MAX_CHARS,
    MAX_DEPTH,
    MAX_NODES,
    BinOp,
    Call,
    FormulaError,
    Neg,
    Node,
    Num,
    Ref,
    parse,
)


def show(node: Node) -> str:
    """The tree in prefix form, to state precedence plainly."""
    if isinstance(node, Ref):
        return f"${node.path}"
    if isinstance(node, Num):
        return repr(node.value)
    if isinstance(node, Neg):
        return f"(neg {show(node.arg)})"
    if isinstance(node, BinOp):
        return f"({node.op} {show(node.left)} {show(node.right)})"
    assert isinstance(node, Call)
    return f"({node.name} {' '.join([*(show(a) for a in node.args), *(repr(p) for p in node.params)])})"


@pytest.mark.parametrize(("text", "tree"), [
    ("${a} + ${b} * ${c}", "(+ $a (* $b $c))"),
    ("(${a} + ${b}) * ${c}", "(* (+ $a $b) $c)"),
    ("${a} - ${b} - ${c}", "(- (- $a $b) $c)"),
    ("${a} / ${b} / 2", "(/ (/ $a $b) 2.0)"),
    ("2 ^ 3 ^ 2", "(^ 2.0 (^ 3.0 2.0))"),
    ("2 ** 3", "(^ 2.0 3.0)"),
    ("-${a} ^ 2", "(neg (^ $a 2.0))"),
    ("2 ^ -1", "(^ 2.0 (neg 1.0))"),
    ("+${a}", "$a"),
    ("--${a}", "(neg (neg $a))"),
    ("${a} + 1 < ${b} * 2", "(< (+ $a 1.0) (* $b 2.0))"),
    ("${a} <= 1", "(<= $a 1.0)"), ("${a} > 1", "(> $a 1.0)"), ("${a} >= 1", "(>= $a 1.0)"),
    ("${a} == 1", "(== $a 1.0)"), ("${a} != 1", "(!= $a 1.0)"),
    ("1e-3 + .5 + 2. + 1E+2", "(+ (+ (+ 0.001 0.5) 2.0) 100.0)"),
    ("${a} * inf - nan", "(- (* $a inf) nan)"),
    ("ema(${a}, 0.1)", "(ema $a 0.1)"), ("sma(${a}, 10)", "(sma $a 10.0)"),
    ("gaussian(${a}, 2.5)", "(gaussian $a 2.5)"), ("diff(${a})", "(diff $a)"), ("rate(${a})", "(rate $a)"),
    ("cumsum(${a})", "(cumsum $a)"), ("cummin(${a})", "(cummin $a)"), ("cummax(${a})", "(cummax $a)"),
    ("normalize(${a})", "(normalize $a)"), ("log(${a})", "(log $a)"), ("log10(${a})", "(log10 $a)"),
    ("exp(${a})", "(exp $a)"), ("abs(${a})", "(abs $a)"), ("sqrt(${a})", "(sqrt $a)"),
    ("clip(${a}, -1, +1)", "(clip $a -1.0 1.0)"), ("min(${a}, ${b})", "(min $a $b)"),
    ("max(${a}, 0)", "(max $a 0.0)"),
    ("${train/loss \\} x \\\\ y}", "$train/loss } x \\ y"),
    ("${a'; DROP TABLE t; --}", "$a'; DROP TABLE t; --"),
])
def test_trees(text: str, tree: str) -> None:
    assert show(parse(text).root) == tree


def test_every_function_is_parsed_and_listed() -> None:
    for name, function in FUNCTIONS.items():
        args = ", ".join(["${x}"] * function.series + ["0.5" if p != "window" else "3" for p in function.params])
        if name == "clip":
            args = "${x}, 0, 1"
        formula = parse(f"{name}({args})")
        assert formula.functions == (name,)
        assert formula.references == ("x",)


def test_aggregates_enclose_the_whole_formula() -> None:
    for name in ("mean", "median", "min", "max", "std"):
        formula = parse(f"{name}(ema(${{loss}}, 0.5) / ${{lr}})")
        assert formula.aggregate == name
        assert formula.references == ("loss", "lr")
        assert show(formula.root) == "(/ (ema $loss 0.5) $lr)"
    assert parse("min(${a}, ${b})").aggregate is None  # two arguments: elementwise


@pytest.mark.parametrize(("text", "position", "expected", "words"), [
    ("", 0, "an expression", "empty formula"),
    ("(${a} + 1", 9, '")"', 'expected ")"'),
    ("ema(${a}, 0.1", 13, '")" to close ema(', "the end of the formula"),
    ("emaa(${a}, 0.1)", 0, "one of", 'unknown function "emaa" (did you mean ema?)'),
    ("smoth(${a}, 3)", 0, "one of", 'unknown function "smoth"'),
    ("loss + 1", 0, "${path}", "a series is written ${loss}"),
    ("${a} +", 6, "a number", "the end of the formula"),
    ("${a} ${b}", 5, "an operator", "${b}"),
    ("1 < 2 < 3", 6, "arithmetic", "do not chain"),
    ("ema(${a}, 1.5)", 10, "(0, 1]", "alpha"),
    ("ema(${a}, 0)", 10, "(0, 1]", "alpha"),
    ("ema(${a}, -0.5)", 10, "(0, 1]", "alpha"),
    ("ema(${a}, ${b})", 10, "a number for alpha", "literal"),
    ("sma(${a}, 2.5)", 10, "whole number", "window"),
    ("sma(${a}, 10001)", 10, "whole number", "window"),
    ("gaussian(${a}, 0)", 15, "above 0", "sigma"),
    ("gaussian(${a}, 1001)", 15, "above 0", "sigma"),
    ("clip(${a}, 2, 1)", 0, "lo ≤ hi", "lo must not be above hi"),
    ("clip(${a}, nan, 1)", 11, "NaN", "lo"),
    ("sma(${a})", 8, "window", 'expected "," and sma'),
    ("log(${a}, 2)", 8, '")" to close log(', "takes 1 argument"),
    ("${}", 0, "a path", "empty series path"),
    ("${abc", 0, '"}"', "unterminated"),
    ("mean(${a}) + 1", 11, "the end of the formula", "must enclose the whole formula"),
    ("1 + mean(${a})", 4, "one series", "must enclose the whole formula"),
    ("ema(median(${a}), 0.1)", 4, "one series", "must enclose"),
    ("${a} ; DROP TABLE track_float_points", 5, "a number, ${path}", "unexpected character ';'"),
    ("${a} -- comment", 8, "a number", "comment"),
    ("${a} /* x */", 6, "a number", 'found "*"'),
    ("${a} UNION SELECT 1", 5, "an operator", '"UNION"'),
    ("'${a}'", 0, "a number", "unexpected character"),
    ('"x"', 0, "a number", "unexpected character"),
    ("{a}", 0, "a number", "a series is ${path}"),
])
def test_errors_say_where_and_what_was_expected(text: str, position: int, expected: str, words: str) -> None:
    with pytest.raises(FormulaError) as caught:
        parse(text)
    assert caught.value.position == position, str(caught.value)
    assert expected in caught.value.expected, caught.value.expected
    assert words in str(caught.value), str(caught.value)
    assert str(caught.value).endswith(f" at {position}")


def test_limits_length_depth_references_and_size() -> None:
    with pytest.raises(FormulaError, match="longer than 2000 characters") as caught:
        parse("${a} + " * 400 + "1")
    assert caught.value.position == MAX_CHARS
    deep = "(" * (MAX_DEPTH + 1) + "${a}" + ")" * (MAX_DEPTH + 1)
    with pytest.raises(FormulaError, match="nested deeper than 64") as caught:
        parse(deep)
    assert caught.value.position == MAX_DEPTH + 1
    assert parse("(" * (MAX_DEPTH - 1) + "${a}" + ")" * (MAX_DEPTH - 1)).references == ("a",)
    nested = "abs(" * 70 + "${a}" + ")" * 70
    with pytest.raises(FormulaError, match="nested deeper"):
        parse(nested)
    many = " + ".join(f"${{s{i}}}" for i in range(17))
    with pytest.raises(FormulaError, match="more than 16 different series") as caught:
        parse(many)
    assert caught.value.position == many.index("${s16}")
    assert len(parse(" + ".join("${a}" for _ in range(100))).references) == 1  # the same path many times is one
    with pytest.raises(FormulaError, match=f"more than {MAX_NODES}"):
        parse("+".join(["1"] * 300) + " + ${a}")
    with pytest.raises(FormulaError, match="path longer than 1024"):
        parse("${" + "p" * 1025 + "}")
