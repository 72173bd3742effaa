"""A deterministic support agent (no LLM needed) with two variants, for the evaluation example.

`SUPPORT_BOT_VARIANT=v1` (the default) looks policies up; `v2` is a "refactor" that skips the policy lookup
for refund questions and answers generically — the regression `neon compare` should catch.
"""

from __future__ import annotations

import asyncio
import os
import re

import neon

BALANCES = {"acc-1": 42, "acc-2": 1300, "acc-3": 0}
POLICIES = {
    "refund": "Refunds are possible within 30 days of purchase.",
    "shipping": "Shipping takes 3 to 5 working days.",
    "fees": "There is no monthly fee.",
}
TOPIC_WORDS = {"refund": ("refund", "money back", "return"), "shipping": ("ship", "deliver"),
               "fees": ("fee", "charge")}


@neon.tool(category="account")
async def lookup_balance(account: str) -> int:
    await asyncio.sleep(0.005)
    if account not in BALANCES:
        raise KeyError(f"unknown account {account}")
    return BALANCES[account]


@neon.tool(category="knowledge")
async def lookup_policy(topic: str) -> str:
    await asyncio.sleep(0.005)
    return POLICIES[topic]


def topic_of(question: str) -> str | None:
    lowered = question.lower()
    for topic, words in TOPIC_WORDS.items():
        if any(w in lowered for w in words):
            return topic
    return None


async def answer(question: str) -> str:
    """Answer a support question; the variant comes from SUPPORT_BOT_VARIANT."""
    variant = os.environ.get("SUPPORT_BOT_VARIANT", "v1")
    with neon.generation("plan", model="stub-model", provider="example",
                         messages=[{"role": "user", "content": question}]) as plan:
        plan.set_output("route the question").set_usage(input_tokens=50 + len(question), output_tokens=8)
    account = re.search(r"acc-\d+", question)
    if "balance" in question.lower() and account:
        balance = await lookup_balance(account.group())
        return f"The balance of {account.group()} is {balance} EUR."
    topic = topic_of(question)
    if topic is None:
        return "Sorry, I can only help with balances, refunds, shipping and fees."
    if variant == "v2" and topic == "refund":
        return "Please contact our support team about that."  # the regression: no policy lookup
    return await lookup_policy(topic)
