"""Rule-based scorers and define_scorer: each with cases it must pass and cases it must fail."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

from neon.evaluate import (
    Case,
    Outcome,
    Score,
    Scorer,
    contains,
    define_scorer,
    exact_match,
    json_schema,
    json_valid,
    numeric_close,
    regex,
    run_scorer,
)


def score(scorer: Any, output: Any, expected: Any = None, **outcome: Any) -> Score:
    return asyncio.run(run_scorer(scorer, Case(input="q", expected=expected), Outcome(output=output, **outcome)))


# ---------------------------------------------------------------- contains


def test_contains_any_is_case_insensitive_by_default() -> None:
    result = score(contains(["refund", "credit"]), "We issued a REFUND today")
    assert (result.value, result.passed, result.data_type) == (1.0, True, "boolean")
    assert result.evidence == {"found": ["refund"], "missing": ["credit"]}
    failed = score(contains(["refund", "credit"]), "No money back")
    assert (failed.value, failed.passed) == (0.0, False)
    assert "none of ['refund', 'credit']" in failed.reason


def test_contains_all_scores_the_fraction_found_and_passes_only_with_all() -> None:
    partial = score(contains(["a1", "b2", "c3", "d4"], mode="all"), "a1 and c3")
    assert (partial.value, partial.passed) == (0.5, False)
    assert partial.evidence["missing"] == ["b2", "d4"]
    assert score(contains(["a1", "c3"], mode="all"), "a1 and c3").passed is True


def test_contains_case_sensitive_and_expected_from_the_case() -> None:
    assert score(contains("Paris", case_sensitive=True), "paris").passed is False
    assert score(contains(), "It is Paris.", expected="paris").passed is True
    nothing = score(contains(), "x")
    assert (nothing.value, nothing.passed) == (None, None)
    assert "nothing to look for" in nothing.reason


def test_contains_reads_a_field_of_structured_output_and_fails_a_failed_agent() -> None:
    assert score(contains("ok", field="status"), {"status": "OK", "body": "nope"}).passed is True
    assert score(contains("ok", field="status"), '{"status": "fine"}').passed is False  # JSON text is decoded
    missing = score(contains("ok", field="status.code"), {"status": "x"})
    assert (missing.value, missing.reason) == (0.0, "the output has no 'status.code' (stopped at 'code')")
    failed = score(contains("ok"), None, error="ValueError: boom")
    assert (failed.value, failed.reason) == (0.0, "the agent failed: ValueError: boom")


# ---------------------------------------------------------------- regex


def test_regex_search_and_full_match() -> None:
    order = score(regex(r"order #(\d+)"), "Your order #4521 shipped")
    assert order.passed is True
    assert order.evidence["groups"] == ["4521"]
    assert score(regex(r"\d{3}-\d{4}", full_match=True), "555-1234").passed is True
    assert score(regex(r"\d{3}-\d{4}", full_match=True), "call 555-1234").passed is False
    assert score(regex("HELLO", ignore_case=True), "hello").passed is True
    assert score(regex(re.compile("^yes$")), "no").passed is False


# ---------------------------------------------------------------- exact match


def test_exact_match_normalisation_options() -> None:
    assert score(exact_match("Paris"), "  Paris\n").passed is True  # strip is on by default
    wrong_case = score(exact_match("Paris"), "paris")
    assert wrong_case.passed is False
    assert wrong_case.evidence["first_difference"] == 0
    assert score(exact_match("Paris", case_sensitive=False), "PARIS").passed is True
    assert score(exact_match("new york city", collapse_whitespace=True), "new  york\ncity").passed is True
    assert score(exact_match("yes", ignore_punctuation=True, case_sensitive=False), "Yes!").passed is True
    assert score(exact_match("42", normalize=lambda s: s.lstrip("0")), "0042").passed is True
    differs = score(exact_match("the cat sat"), "the cat sit")
    assert differs.reason == "differs at character 9: expected 'at', got 'it'"


def test_exact_match_compares_structures_and_uses_the_case() -> None:
    assert score(exact_match(), '{"a": 1, "b": [2]}', expected={"b": [2], "a": 1}).passed is True
    assert score(exact_match(), {"a": 2}, expected={"a": 1}).passed is False
    assert score(exact_match(), "Paris", expected="Paris").passed is True
    assert score(exact_match(), "Paris").value is None


# ---------------------------------------------------------------- JSON


def test_json_valid() -> None:
    assert score(json_valid(), '{"a": [1, 2]}').passed is True
    assert score(json_valid(), {"already": "a value"}).passed is True
    broken = score(json_valid(), '{"a": [1, 2}')
    assert broken.passed is False
    assert broken.reason.startswith("not valid JSON: ")
    assert "line 1 column" in broken.reason
    fenced = '```json\n{"a": 1}\n```'
    assert score(json_valid(), fenced).passed is False
    assert score(json_valid(strip_code_fence=True), fenced).passed is True


SCHEMA = {"type": "object", "required": ["name", "age"],
          "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0},
                         "tags": {"type": "array", "items": {"type": "string"}}}}


def test_json_schema_passes_valid_documents() -> None:
    assert score(json_schema(SCHEMA), '{"name": "Ada", "age": 36}').passed is True
    assert score(json_schema(SCHEMA), {"name": "Ada", "age": 36, "tags": ["x"]}).passed is True


def test_json_schema_lists_every_violation_with_its_path() -> None:
    result = score(json_schema(SCHEMA), {"name": 7, "age": -1, "tags": ["ok", 3]})
    assert (result.value, result.passed) == (0.0, False)
    assert {v["path"] for v in result.evidence} == {"/name", "/age", "/tags/1"}
    assert result.reason.startswith("3 schema violation(s): ")
    assert "'name' is a required property" in score(json_schema(SCHEMA), {"age": 1}).reason
    not_json = score(json_schema(SCHEMA), "name: Ada")
    assert not_json.reason.startswith("not valid JSON")


def test_json_schema_rejects_a_broken_schema_up_front() -> None:
    from jsonschema.exceptions import SchemaError

    with pytest.raises(SchemaError):
        json_schema({"type": "no-such-type"})


# ---------------------------------------------------------------- numbers


def test_numeric_close_with_absolute_and_relative_tolerance() -> None:
    assert score(numeric_close(3.14159, abs_tol=0.001), 3.1414).passed is True
    assert score(numeric_close(3.14159, abs_tol=0.001), 3.13).passed is False
    assert score(numeric_close(1000, rel_tol=0.01), "about 1,009.5 km").passed is True
    far = score(numeric_close(1000, rel_tol=0.01), "about 1,020 km")
    assert far.passed is False
    assert far.evidence == {"expected": 1000.0, "actual": 1020.0, "difference": 20.0, "tolerance": 10.0}
    assert far.reason == "1020 is 20 away from 1000 (tolerance 10)"


def test_numeric_close_extracts_the_number_from_text() -> None:
    reasoning = "There are 3 boxes of 4 apples, so the answer is 12."
    assert score(numeric_close(12), reasoning).passed is True  # the last number, by default
    assert score(numeric_close(12, extract="first"), reasoning).passed is False
    assert score(numeric_close(12, extract="only"), reasoning).passed is False
    assert score(numeric_close(), "-2.5e3", expected="-2500").passed is True
    assert score(numeric_close(5), "no digits here").reason == "no number (last) in 'no digits here'"
    assert score(numeric_close(), "7").value is None  # nothing expected


# ---------------------------------------------------------------- define_scorer


def test_define_scorer_accepts_every_return_form() -> None:
    @define_scorer
    def polite(case: Case, outcome: Outcome) -> Any:
        return "please" in outcome.output

    @define_scorer(name="brevity", threshold=0.5)
    def short(case: Case, outcome: Outcome) -> Any:
        return min(1.0, 10 / len(outcome.output)), f"{len(outcome.output)} characters"

    @define_scorer(threshold=0.8)
    async def graded(case: Case, outcome: Outcome) -> Any:
        await asyncio.sleep(0)
        return Score(name="graded", value=0.9, reason="async and explicit")

    abstain = define_scorer(lambda case, outcome: None, name="abstain")

    assert isinstance(polite, Scorer)
    yes = score(polite, "please help")
    assert (yes.name, yes.value, yes.data_type, yes.passed) == ("polite", 1.0, "boolean", True)
    assert score(polite, "help").passed is False
    brief = score(short, "x" * 40)
    assert (brief.name, brief.value, brief.reason, brief.passed) == ("brevity", 0.25, "40 characters", False)
    explicit = score(graded, "x")
    assert (explicit.value, explicit.passed, explicit.reason) == (0.9, True, "async and explicit")
    nothing = score(abstain, "x")
    assert (nothing.name, nothing.value, nothing.passed) == ("abstain", None, None)
    assert polite.__doc__ is None
    assert polite.__name__ == "polite"  # type: ignore[attr-defined]


def test_define_scorer_refuses_out_of_range_and_unknown_returns() -> None:
    with pytest.raises(ValueError, match=r"scorer 'big' returned 7: values must be in \[0, 1\]"):
        score(define_scorer(lambda c, o: 7, name="big"), "x")
    with pytest.raises(TypeError, match="scorer 'text' returned str"):
        score(define_scorer(lambda c, o: "good", name="text"), "x")
    with pytest.raises(TypeError, match=r"not \(value, reason\)"):
        score(define_scorer(lambda c, o: (1, 2, 3), name="triple"), "x")


def test_numbers_without_threshold_have_no_pass_fail() -> None:
    plain = score(define_scorer(lambda c, o: 0.3, name="plain"), "x")
    assert (plain.value, plain.passed) == (0.3, None)


def test_json_schema_without_the_extra_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "jsonschema.validators", None)  # as if `neon[eval]` were not installed
    with pytest.raises(ImportError, match=r"pip install 'neon\[eval\]'"):
        json_schema(SCHEMA)
