"""Scorer specs: JSON names and arguments of built-in scorers, built into working scorers, with errors that say
which scorer and argument was wrong."""

from __future__ import annotations

import asyncio

import pytest

from neon.evaluate import Case, Outcome, run_scorer
from neon.evaluate.scorers import LLMJudge
from neon.evaluate.specs import (
    BUILTINS,
    SpecError,
    build_scorer,
    build_scorers,
    parse_spec,
    parse_specs,
    spec_from_text,
)
from neon.llm.fake import FakeLLMServer


def test_every_builtin_is_buildable_from_its_documented_arguments() -> None:
    minimal = {"regex": {"pattern": "x"}, "json_schema": {"schema": {"type": "object"}},
               "latency_budget": {"max_ms": 100}, "cost_budget": {"max_usd": 0.1}, "llm_judge": {"rubric": "r"}}
    env = {"NEON_LLM_PROVIDER": "openai", "NEON_LLM_MODEL": "judge", "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"}
    for name in BUILTINS:
        scorer = build_scorer(parse_spec({"scorer": name, "args": minimal.get(name, {})}), env=env)
        assert scorer.name


def test_rule_spec_scores_like_the_python_scorer() -> None:
    scorer = build_scorer(parse_spec({"scorer": "contains", "args": {"needles": ["refund", "credit"],
                                                                     "name": "mentions_refund"}}))
    score = asyncio.run(run_scorer(scorer, Case(input="q"), Outcome(output="We sent your refund.")))
    assert (score.name, score.value, score.passed) == ("mentions_refund", 1.0, True)


def test_cli_forms() -> None:
    assert spec_from_text("json_valid").to_dict() == {"scorer": "json_valid", "args": {}}
    assert spec_from_text('contains:{"needles": "refund"}').args == {"needles": "refund"}
    assert spec_from_text('{"scorer": "regex", "args": {"pattern": "\\\\d+"}}').args == {"pattern": "\\d+"}
    with pytest.raises(SpecError, match="not valid JSON"):
        spec_from_text("contains:{needles}")


@pytest.mark.parametrize(("data", "message"), [
    ({"scorer": "contain"}, "unknown scorer 'contain'; known: contains"),
    ({"scorer": "contains", "args": {"txt": "a"}}, "contains has no argument\\(s\\) 'txt'; known: needles"),
    ({"scorer": "regex"}, "regex needs 'pattern'"),
    ({"scorer": "contains", "args": {"mode": "most"}}, "args.mode must be 'any' or 'all', got \"most\""),
    ({"scorer": "latency_budget", "args": {"max_ms": "fast"}}, "args.max_ms must be a number"),
    ({"scorer": "termination", "args": {"max_steps": True}}, "args.max_steps must be a whole number"),
    ({"scorer": "contains", "extra": 1}, "unknown field\\(s\\) extra"),
    ([1], "must be an object"),
    ({"scorer": "contains", "args": []}, "args must be an object"),
])
def test_parse_errors_name_the_problem(data: object, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        parse_spec(data)


def test_build_errors_name_the_problem() -> None:
    with pytest.raises(SpecError, match="scorer: regex refused its arguments"):
        build_scorer(parse_spec({"scorer": "regex", "args": {"pattern": "("}}))
    with pytest.raises(SpecError, match="latency_budget refused its arguments: max_ms must be positive"):
        build_scorer(parse_spec({"scorer": "latency_budget", "args": {"max_ms": 0}}))
    with pytest.raises(SpecError, match="json_schema refused its arguments"):
        build_scorer(parse_spec({"scorer": "json_schema", "args": {"schema": {"type": 12}}}))
    with pytest.raises(SpecError, match="llm_judge needs an LLM provider: no LLM provider"):
        build_scorer(parse_spec({"scorer": "llm_judge", "args": {"rubric": "r"}}), env={})
    with pytest.raises(SpecError, match="would both write the score 'contains'"):
        build_scorers(parse_specs([{"scorer": "contains"}, {"scorer": "contains", "args": {"needles": "x"}}]))
    with pytest.raises(SpecError, match="scorers must be a non-empty list"):
        parse_specs([])
    with pytest.raises(SpecError, match=r"scorers\[1\]\.scorer: unknown scorer"):
        parse_specs(["json_valid", "nope"])


def test_judge_spec_uses_the_environment_provider() -> None:
    with FakeLLMServer(replies=['{"reasoning": "on topic", "score": 9}']) as server:
        env = {"NEON_LLM_PROVIDER": "openai", "NEON_LLM_MODEL": "judge-model", "OPENAI_BASE_URL":
               server.openai_base_url}
        scorer = build_scorer(parse_spec({"scorer": "relevance", "args": {"threshold": 0.8}}), env=env)
        assert isinstance(scorer, LLMJudge)
        score = asyncio.run(run_scorer(scorer, Case(input="2+2?"), Outcome(output="4")))
        assert (score.value, score.passed, score.reason) == (0.9, True, "on topic")
        assert server.requests[0].body["model"] == "judge-model"
