"""Guardrails: every rule type passing and failing, PII validated (Luhn, IBAN mod 97), redactions seen by later
rules, the llm rule through a caller's judge, and rules checked where they belong."""

from __future__ import annotations

import asyncio

import pytest

from neon.execute import (
    DenyListRule,
    GuardrailResult,
    JsonSchemaRule,
    LlmRule,
    MaxLengthRule,
    PiiRule,
    RegexRule,
    blocked,
    check,
    check_rule,
    check_sync,
    final_text,
)
from neon.execute.pii import find_pii, iban_valid, luhn_valid


def test_regex_blocks_or_redacts() -> None:
    rule = RegexRule(pattern=r"sk-[A-Za-z0-9]{8,}", message="Please do not paste API keys.")
    assert check_rule(rule, "no secrets here", stage="input").passed
    result = check_rule(rule, "my key is sk-abcdef123456", stage="input")
    assert (result.passed, result.rule, result.type) == (False, "regex", "regex")
    assert result.reason == "matches the pattern 'sk-[A-Za-z0-9]{8,}'"
    assert "abcdef" not in result.reason
    assert result.message == "Please do not paste API keys."
    redact = check_rule(RegexRule(name="keys", pattern=r"sk-\w+", action="redact"), "a sk-1 and sk-2", stage="output")
    assert (redact.passed, redact.redacted_text, redact.reason) == (True, "a [REDACTED] and [REDACTED]",
                                                                   "redacted 2 match(es)")


def test_deny_list_matches_whole_words() -> None:
    rule = DenyListRule(words=("guarantee", "legal advice"))
    assert check_rule(rule, "We cannot guarantee delivery", stage="output").reason == \
        "contains the denied word 'guarantee'"
    assert not check_rule(rule, "This is not LEGAL  ADVICE but Legal advice", stage="output").passed
    assert check_rule(rule, "guaranteed and guarantees are other words", stage="output").passed
    strict = DenyListRule(words=("Acme",), case_sensitive=True)
    assert check_rule(strict, "acme is fine lowercase", stage="input").passed
    assert not check_rule(strict, "Acme is not", stage="input").passed


def test_max_length() -> None:
    rule = MaxLengthRule(chars=10)
    assert check_rule(rule, "0123456789", stage="output").passed
    too_long = check_rule(rule, "0123456789!", stage="output")
    assert (too_long.passed, too_long.reason) == (False, "11 characters, more than the 10 allowed")


def test_json_schema_rule_on_output() -> None:
    rule = JsonSchemaRule(name="shape", schema={"type": "object", "required": ["answer"],
                                                "properties": {"answer": {"type": "string"}}})
    assert check_rule(rule, '{"answer": "yes"}', stage="output").passed
    assert check_rule(rule, '```json\n{"answer": "yes"}\n```', stage="output").passed
    not_json = check_rule(rule, "yes", stage="output")
    assert not not_json.passed
    assert not_json.reason.startswith("the answer is not JSON")
    wrong = check_rule(rule, '{"answer": 3}', stage="output")
    assert wrong.reason == "the answer does not match the schema: answer: expected string, got integer 3"
    with pytest.raises(ValueError, match="output only"):
        check_rule(rule, "{}", stage="input")


def test_luhn_and_iban_checksums() -> None:
    assert luhn_valid("4111 1111 1111 1111")
    assert luhn_valid("5500-0000-0000-0004")
    assert not luhn_valid("4111 1111 1111 1112")
    assert iban_valid("DE89 3704 0044 0532 0130 00")
    assert iban_valid("GB82WEST12345698765432")
    assert not iban_valid("DE89 3704 0044 0532 0130 01")
    assert not iban_valid("DE89")


@pytest.mark.parametrize(("text", "kind", "found"), [
    ("write to ada@example.com please", "email", "ada@example.com"),
    ("call +44 20 7946 0958 today", "phone", "+44 20 7946 0958"),
    ("call (555) 123-4567 now", "phone", "(555) 123-4567"),
    ("card 4111 1111 1111 1111 exp 12/27", "credit_card", "4111 1111 1111 1111"),
    ("ssn 123-45-6789 on file", "ssn", "123-45-6789"),
    ("pay to DE89 3704 0044 0532 0130 00 by Friday", "iban", "DE89 3704 0044 0532 0130 00"),
    ("from 192.168.1.20.", "ip_address", "192.168.1.20"),
    ("from 2001:db8::1 at 10:30:00", "ip_address", "2001:db8::1"),
])
def test_pii_detected(text: str, kind: str, found: str) -> None:
    assert [(m.kind, m.text) for m in find_pii(text)] == [(kind, found)]


@pytest.mark.parametrize("text", [
    "card 4111 1111 1111 1112 fails Luhn",
    "iban DE89 3704 0044 0532 0130 01 fails mod 97",
    "ssn 000-12-3456 and 666-12-3456 are never issued",
    "shipped on 2026-11-20 at 10:30:00, order A1001, 3 items, version 1.2.3",
    "ip 999.1.1.1 is not an address",
])
def test_pii_not_detected(text: str) -> None:
    assert [m for m in find_pii(text) if m.kind in ("credit_card", "iban", "ssn", "ip_address", "email")] == []
    assert find_pii(text, ["credit_card", "iban", "ip_address"]) == []


def test_pii_rule_blocks_or_redacts_only_what_it_detects() -> None:
    text = "I'm ada@example.com, card 4111111111111111, IBAN GB82WEST12345698765432"
    blocking = check_rule(PiiRule(), text, stage="input")
    assert (blocking.passed, blocking.reason) == (False, "contains personal data: 1 email, 1 credit card, 1 iban")
    redacting = check_rule(PiiRule(detect=("credit_card", "iban"), action="redact"), text, stage="input")
    assert redacting.passed
    assert redacting.redacted_text == "I'm ada@example.com, card [CREDIT_CARD], IBAN [IBAN]"
    assert check_rule(PiiRule(detect=("ssn",)), text, stage="input").passed


def test_rules_run_in_order_on_the_redacted_text() -> None:
    rules = [PiiRule(detect=("email",), action="redact"), DenyListRule(words=("example",)), MaxLengthRule(chars=5)]
    results = check_sync(rules, "mail ada@example.com", stage="input")
    assert [r.passed for r in results] == [True, True, False]  # the deny list never saw the address
    assert final_text(results, "mail ada@example.com") == "mail [EMAIL]"
    assert blocked(results) == results[2]
    stopped = check_sync([MaxLengthRule(chars=1), DenyListRule(words=("x",))], "xx", stage="input")
    assert len(stopped) == 1
    both = check_sync([MaxLengthRule(chars=1), DenyListRule(words=("xx",))], "xx", stage="input", stop_on_block=False)
    assert [r.passed for r in both] == [False, False]
    assert blocked(check_sync(rules[:2], "hello", stage="input")) is None


def test_llm_rule_asks_the_callers_judge() -> None:
    asked: list[tuple[str, str, str | None]] = []

    async def judge(prompt: str, text: str, model: str | None) -> tuple[bool, str]:
        asked.append((prompt, text, model))
        return ("refund" not in text, "promises a refund" if "refund" in text else "fine")

    rules = [PiiRule(detect=("email",), action="redact"),
             LlmRule(name="no-promises", prompt="Does the answer promise anything?", model="openai:gpt-4o-mini")]
    ok = asyncio.run(check(rules, "Contact bob@example.com for shipping", stage="output", judge=judge))
    assert [r.passed for r in ok] == [True, True]
    assert ok[1].reason == "fine"
    assert asked[0] == ("Does the answer promise anything?", "Contact [EMAIL] for shipping", "openai:gpt-4o-mini")
    no = asyncio.run(check(rules, "You will get a refund", stage="output", judge=judge))
    assert no[1] == GuardrailResult("no-promises", "llm", False, "promises a refund", message="promises a refund")
    with pytest.raises(ValueError, match="needs a judge"):
        asyncio.run(check(rules, "x", stage="output"))
    with pytest.raises(ValueError, match="need `await check"):
        check_sync(rules, "x", stage="output")

    async def broken(prompt: str, text: str, model: str | None) -> tuple[bool, str]:
        return "yes", "?"  # type: ignore[return-value]

    with pytest.raises(TypeError, match="returns \\(passed: bool, reason: str\\)"):
        asyncio.run(check(rules[1:], "x", stage="output", judge=broken))
