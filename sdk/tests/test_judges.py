"""LLM judges: reply parsing (clean and malformed), prompts, and judges against the fake provider server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

import neon
from neon.evaluate import (
    Case,
    Outcome,
    Score,
    factuality,
    grounding,
    llm_judge,
    reasoning_quality,
    relevance,
    run_scorer,
    safety,
)
from neon.evaluate.scorers import LLMJudge, parse_judgment
from neon.llm import LLMError
from neon.llm.fake import FakeLLMServer
from neon.testing import capture_spans
from neon.tracing import attributes as A

# ---------------------------------------------------------------- parsing


@pytest.mark.parametrize(("reply", "value", "reasoning"), [
    ('{"reasoning": "clear and correct", "score": 8}', 0.8, "clear and correct"),
    ('```json\n{"score": 6, "rationale": "ok"}\n```', 0.6, "ok"),
    ('Here is my evaluation:\n{"explanation": "fine", "rating": "9"}\nHope this helps!', 0.9, "fine"),
    ('{"Reasoning": "mixed", "Score": "7/10"}', 0.7, "mixed"),
    ('{"reasoning": "x", "score": "4 out of 5"}', 0.8, "x"),
    ('{"reasoning": "x", "score": "35%"}', 0.35, "x"),
    ('{"result": {"score": 10, "reason": "perfect"}}', 1.0, "perfect"),
    ('{"reasoning": "a {brace} in text", "score": 0}', 0.0, "a {brace} in text"),
    ('{"notes": "first object has no score"} and then {"score": 5, "reason": "second"}', 0.5, "second"),
])
def test_parse_json_replies(reply: str, value: float, reasoning: str) -> None:
    judgment = parse_judgment(reply)
    assert judgment.value == pytest.approx(value)
    assert judgment.reasoning == reasoning
    assert judgment.error == ""


@pytest.mark.parametrize(("reply", "value"), [
    ("The answer is mostly right but misses one step.\nScore: 7/10", 0.7),
    ("**Score:** 9", 0.9),
    ("I would rate this 6 out of 10.", 0.6),
    ("Final score = 3. The output ignores the question.", 0.3),
    ("Score: 4\n...on reflection, final score: 5", 0.5),  # the last statement wins
    ('{"reasoning": "good"}\nScore: 8', 0.8),  # JSON without a score, the score in prose
])
def test_parse_prose_replies(reply: str, value: float) -> None:
    judgment = parse_judgment(reply)
    assert judgment.value == pytest.approx(value)
    assert judgment.error == ""


@pytest.mark.parametrize(("reply", "error"), [
    ('{"reasoning": "great", "score": 12}', "the score 12 is outside the 0–10 scale"),
    ('{"reasoning": "great", "score": -1}', "the score -1 is outside the 0–10 scale"),
    ("Score: 11/10", "the score 11/10 is not between 0 and 1"),
    ('{"reasoning": "great", "score": "excellent"}', "the score 'excellent' is not a number"),
    ('{"reasoning": "I cannot decide"}', "the reply's JSON has no score"),
    ("I think it's pretty good overall.", "the reply has neither JSON nor a recognisable score"),
    ("", "the reply has neither JSON nor a recognisable score"),
])
def test_unreadable_replies_have_no_value_and_say_why(reply: str, error: str) -> None:
    judgment = parse_judgment(reply)
    assert judgment.value is None
    assert judgment.error.startswith(error)


def test_parse_on_other_scales() -> None:
    assert parse_judgment('{"score": 4}', scale=(1, 5)).value == 0.75
    assert parse_judgment('{"score": 0.25}', scale=(0, 1)).value == 0.25
    assert parse_judgment('{"verdict": "UNSAFE", "reasoning": "x"}', scale=(0, 1)).value == 0.0
    assert parse_judgment('{"score": true}', scale=(0, 1)).value == 1.0
    assert parse_judgment("Verdict: pass", scale=(0, 1)).value == 1.0
    assert parse_judgment('{"score": "pass"}').value is None  # words count only on a pass/fail scale
    with pytest.raises(ValueError, match="low to high"):
        parse_judgment("{}", scale=(5, 1))


# ---------------------------------------------------------------- judges over HTTP


@pytest.fixture
def server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as running:
        yield running


def judge_score(judge: Any, case: Case, outcome: Outcome) -> Score:
    return asyncio.run(run_scorer(judge, case, outcome))


CASE = Case(input="What is the capital of France?", expected="Paris")
ANSWER = Outcome(output="The capital of France is Paris.")


def test_llm_judge_sends_the_rubric_and_returns_the_rationale(server: FakeLLMServer) -> None:
    server.queue('{"reasoning": "Correct and concise.", "score": 9}')
    judge = llm_judge("Is the answer correct and concise?", provider=server.provider("openai", model="judge-m"))
    with capture_spans() as spans:
        result = judge_score(judge, CASE, ANSWER)
    assert (result.name, result.value, result.passed, result.reason) == ("llm_judge", 0.9, True, "Correct and concise.")
    assert result.evidence["raw"] == '{"reasoning": "Correct and concise.", "score": 9}'
    assert (result.evidence["score"], result.evidence["model"]) == (9, "judge-m")
    [request] = server.requests
    assert request.body["response_format"] == {"type": "json_object"}
    assert request.body["temperature"] == 0.0
    prompt = request.last_user_message
    for part in ("Is the answer correct and concise?", "What is the capital of France?",
                 "The capital of France is Paris.", "Paris", "a number from 0 to 10"):
        assert part in prompt
    assert "impartial evaluator" in request.system
    assert prompt == judge.render(CASE, ANSWER)  # what the model saw is what render shows
    attrs = spans.attributes("judge.llm_judge")
    assert (attrs[A.SPAN_TYPE], attrs[A.MODEL]) == ("generation", "judge-m")
    assert attrs[A.INPUT_TOKENS] > 0


def test_low_scores_fail_at_the_threshold(server: FakeLLMServer) -> None:
    server.queue('{"reasoning": "wrong city", "score": 2}', '{"reasoning": "meh", "score": 6}')
    provider = server.provider("anthropic")
    assert judge_score(llm_judge("correct?", provider=provider), CASE, ANSWER).passed is False
    assert judge_score(llm_judge("correct?", provider=provider, threshold=0.7), CASE, ANSWER).passed is False


def test_unparseable_reply_is_a_score_without_value(server: FakeLLMServer) -> None:
    server.queue("As an AI, I think this answer is quite good!", '{"reasoning": "superb", "score": 15}')
    judge = llm_judge("correct?", provider=server.provider("openai"))
    unread = judge_score(judge, CASE, ANSWER)
    assert (unread.value, unread.passed) == (None, None)
    assert unread.reason == ("could not read the judge's reply: the reply has neither JSON nor a recognisable "
                             "score")
    assert unread.evidence["raw"] == "As an AI, I think this answer is quite good!"
    out_of_range = judge_score(judge, CASE, ANSWER)
    assert out_of_range.value is None
    assert "outside the 0–10 scale" in out_of_range.reason


def test_provider_failures_raise(server: FakeLLMServer) -> None:
    server.fail(500, message="judge down")
    judge = llm_judge("correct?", provider=server.provider("openai", max_retries=0))
    with pytest.raises(LLMError, match="openai: HTTP 500: judge down"):
        judge_score(judge, CASE, ANSWER)


def test_provider_from_the_environment(server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEON_LLM_MODEL", "anthropic:env-judge")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.anthropic_base_url)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    server.queue('{"reasoning": "fine", "score": 10}')
    assert judge_score(relevance(), CASE, ANSWER).value == 1.0
    assert server.requests[0].body["model"] == "env-judge"


def test_prompts_are_visible_and_overridable(server: FakeLLMServer) -> None:
    judge = relevance(provider=server.provider("openai"))
    assert "{{input}}" in judge.prompt
    assert "Grade how relevant" in judge.render(CASE, ANSWER)
    custom = LLMJudge("tone", prompt="Rate the politeness of: {{output}}\nJSON: score 1-5", scale=(1, 5),
                      system="", provider=server.provider("openai"))
    assert custom.messages(CASE, ANSWER) == [
        {"role": "user", "content": "Rate the politeness of: The capital of France is Paris.\nJSON: score 1-5"}]
    server.queue('{"score": 5, "reasoning": "polite"}')
    assert judge_score(custom, CASE, ANSWER).value == 1.0
    with pytest.raises(ValueError, match=r"unknown prompt variable\(s\) \['answer'\]"):
        LLMJudge("bad", prompt="{{answer}}")


def test_factuality_needs_an_expected_answer(server: FakeLLMServer) -> None:
    judge = factuality(provider=server.provider("openai"))
    skipped = judge_score(judge, Case(input="q"), ANSWER)
    assert (skipped.value, skipped.reason) == (None, "the case has no expected to judge against")
    assert server.requests == []  # not asked at all
    server.queue('{"reasoning": "says Lyon, reference says Paris", "score": 0}')
    wrong = judge_score(judge, CASE, Outcome(output="Lyon"))
    assert (wrong.value, wrong.passed, wrong.reason) == (0.0, False, "says Lyon, reference says Paris")
    assert "## Reference answer\nParis" in server.requests[0].last_user_message


def traced_outcome() -> Outcome:
    @neon.tool()
    def weather(city: str) -> dict[str, Any]:
        return {"city": city, "temp_c": 21, "sky": "sunny"}

    with capture_spans() as spans:
        with neon.trace("agent") as root:
            with neon.generation("plan", model="agent-m") as g:
                g.set_output("I should check the weather tool.")
            weather("Lisbon")
            root.set_output("Lisbon is sunny at 21°C, and it will rain tomorrow.")
        return Outcome.from_spans(spans.finished())


def test_grounding_judges_claims_against_tool_outputs(server: FakeLLMServer) -> None:
    claims = [{"claim": "Lisbon is sunny", "supported": True, "source": "[1]"},
              {"claim": "it is 21°C", "supported": True, "source": "[1]"},
              {"claim": "it will rain tomorrow", "supported": False, "source": ""}]
    server.queue(json.dumps({"claims": claims, "reasoning": "The forecast is not in any tool output.",
                             "score": 7}))
    result = judge_score(grounding(provider=server.provider("openai")), Case(input="weather?"), traced_outcome())
    assert result.value == pytest.approx(2 / 3)
    assert result.passed is True  # 0.67 ≥ 0.5
    assert result.evidence["unsupported"] == ["it will rain tomorrow"]
    assert "unsupported: ['it will rain tomorrow']" in result.reason
    prompt = server.requests[0].last_user_message
    assert '[1] weather({"city": "Lisbon"}):\n{"city": "Lisbon", "temp_c": 21, "sky": "sunny"}' in prompt
    assert "it will rain tomorrow" in prompt


def test_grounding_falls_back_to_the_score_without_claims(server: FakeLLMServer) -> None:
    server.queue('{"reasoning": "no factual claims", "score": 10}')
    result = judge_score(grounding(provider=server.provider("openai")), Case(input="hi"), Outcome(output="Hello!"))
    assert result.value == 1.0
    assert "(the agent called no tools)" in server.requests[0].last_user_message


def test_reasoning_quality_sees_the_steps(server: FakeLLMServer) -> None:
    server.queue('{"reasoning": "checked the tool before answering", "score": 8}')
    result = judge_score(reasoning_quality(provider=server.provider("anthropic")), Case(input="weather?"),
                         traced_outcome())
    assert (result.value, result.reason) == (0.8, "checked the tool before answering")
    prompt = server.requests[0].last_user_message
    assert "1. generation agent-m" in prompt
    assert "I should check the weather tool." in prompt
    assert '2. tool weather\n   in: {"city": "Lisbon"}' in prompt


def test_safety_is_pass_fail(server: FakeLLMServer) -> None:
    server.queue('{"reasoning": "leaks an API key", "categories": ["secrets"], "score": 0}',
                 '```json\n{"reasoning": "harmless", "categories": [], "score": 1}\n```')
    judge = safety(provider=server.provider("openai"))
    unsafe = judge_score(judge, Case(input="config?"), Outcome(output="key=sk-123"))
    assert (unsafe.value, unsafe.passed, unsafe.data_type) == (0.0, False, "boolean")
    assert unsafe.evidence["categories"] == ["secrets"]
    safe = judge_score(judge, Case(input="hi"), Outcome(output="Hello"))
    assert (safe.value, safe.passed) == (1.0, True)
    assert "1 if safe, 0 if unsafe" in server.requests[0].last_user_message


def test_a_failed_agent_is_judged_on_its_error(server: FakeLLMServer) -> None:
    server.queue('{"reasoning": "no answer", "score": 0}')
    judge_score(relevance(provider=server.provider("openai")), CASE, Outcome(error="TimeoutError: tool hung"))
    assert "[error] TimeoutError: tool hung" in server.requests[0].last_user_message
