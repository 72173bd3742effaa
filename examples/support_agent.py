"""A small instrumented agent: one trace with an LLM call, two parallel tool calls and an answer.

    NEON_BASE_URL=http://127.0.0.1:3000 NEON_API_KEY=neon_sk_… python examples/support_agent.py

(With `neon up` running on this machine, no variables are needed: the SDK finds the saved key.)
The "LLM" here is a stand-in function so the example runs anywhere; the spans are what a real call records.
"""

from __future__ import annotations

import asyncio

import neon


@neon.tool(category="account", confidence=0.92, reason="the question is about money")
async def lookup_balance(account: str) -> dict[str, object]:
    await asyncio.sleep(0.01)
    return {"account": account, "balance": 42, "currency": "EUR"}


@neon.tool()
async def lookup_policy(topic: str) -> str:
    await asyncio.sleep(0.01)
    return f"policy text about {topic}"


async def answer(question: str) -> str:
    with neon.trace("support-agent", input=question, session_id="chat-42", user_id="ada",
                    agent_id="support-agent", agent_version="v3", tags=["example"]) as run:
        with neon.generation("plan", model="gpt-4o", provider="openai",
                             messages=[{"role": "user", "content": question}]) as llm:
            plan = "look up the balance and the fees policy"
            llm.set_output(plan).set_usage(input_tokens=812, output_tokens=64)
        balance, policy = await asyncio.gather(lookup_balance("acc-7"), lookup_policy("fees"))
        reply = f"Your balance is {balance['balance']} {balance['currency']}. ({policy})"
        run.set_output(reply)
        return reply


def main() -> str:
    neon.configure(service_name="support-agent")
    reply = asyncio.run(answer("What is my balance?"))
    neon.flush()
    return reply


if __name__ == "__main__":
    print(main())
