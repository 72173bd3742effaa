"""Realistic traffic for a fresh Neon: conversations, tool calls, retrieval, an error, a slow run, and scores.

    python examples/demo_traffic.py            # against `neon up` on this machine (uses the saved key)
    python examples/demo_traffic.py --traces 200

Everything goes through the Neon SDK, that is through the OpenTelemetry OTLP exporter, like a real agent's spans.
The "LLM" is a stand-in so that the example runs anywhere; the spans record what a real call would.
"""

from __future__ import annotations

import argparse
import random
import time
from typing import Any

import neon

QUESTIONS = [
    ("What is my balance?", "billing"), ("How do I reset my password?", "account"),
    ("Can I get a refund for order 1182?", "billing"), ("Why was my card declined?", "billing"),
    ("Where is my parcel?", "shipping"), ("Change my delivery address please", "shipping"),
]
MODELS = [("gpt-4o", "openai"), ("gpt-4o-mini", "openai"), ("claude-sonnet-4", "anthropic")]
SYSTEM = "You are a support agent for Acme. Use tools to look things up; never guess account data."


def think(rng: random.Random, low: float, high: float) -> None:
    time.sleep(rng.uniform(low, high))


def llm(rng: random.Random, name: str, messages: list[dict[str, Any]], reply: str | dict[str, Any],
        model: tuple[str, str]) -> None:
    with neon.generation(name, model=model[0], provider=model[1], messages=messages, temperature=0.2) as g:
        think(rng, 0.01, 0.04)
        g.set_output(reply).set_usage(input_tokens=rng.randint(300, 2400), output_tokens=rng.randint(20, 400))


def support_turn(rng: random.Random, session: str, user: str, question: str, topic: str, *, fail: bool) -> str:
    model = rng.choice(MODELS)
    with neon.trace("support-agent", input=question, session_id=session, user_id=user, agent_id="support-agent",
                    agent_version=rng.choice(["v3", "v4"]), environment="production", tags=[topic]) as run:
        messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}]
        call = {"role": "assistant", "content": "",
                "tool_calls": [{"id": "call_1", "type": "function",
                                "function": {"name": f"lookup_{topic}", "arguments": '{"account": "acc-7"}'}}]}
        llm(rng, "plan", messages, call, model)
        with neon.tool(f"lookup_{topic}", input={"account": "acc-7"}, category=topic, confidence=0.9) as t:
            think(rng, 0.005, 0.03)
            if fail:
                error = TimeoutError(f"{topic} service did not answer within 2 s")
                t.record_error(error)
                run.record_error(error)
                return "error"
            result = {"account": "acc-7", "topic": topic, "status": "ok", "items": rng.randint(1, 5)}
            t.set_output(result)
        with neon.retrieval("policy-search", query=question) as r:
            think(rng, 0.002, 0.01)
            r.set_output([{"id": f"doc-{i}", "score": round(0.9 - i * 0.1, 2)} for i in range(3)])
        answer = f"I checked your {topic} details: everything is in order. Anything else?"
        llm(rng, "answer", [*messages, call, {"role": "tool", "tool_call_id": "call_1", "content": str(result)}],
            {"role": "assistant", "content": answer}, model)
        run.set_output(answer)
        neon.score("helpfulness", round(rng.uniform(0.4, 1.0), 2), reason="graded by a rubric")
        return answer


def research_run(rng: random.Random) -> None:
    with neon.trace("research-agent", input="Summarise this week's incidents", agent_id="research-agent",
                    agent_version="v1", environment="production") as run:
        with neon.planning("plan"):
            llm(rng, "plan", [{"role": "user", "content": "Summarise this week's incidents"}],
                "1. list incidents 2. read each 3. summarise", MODELS[0])
        for i in range(rng.randint(3, 6)):
            with neon.span(f"incident-{i}"):
                with neon.tool("fetch_incident", input={"id": i}) as t:
                    think(rng, 0.005, 0.02)
                    t.set_output({"id": i, "title": f"incident {i}", "severity": rng.choice(["low", "high"])})
                llm(rng, "read", [{"role": "user", "content": f"Summarise incident {i}"}], f"Incident {i}: ok",
                    MODELS[1])
        run.set_output("Three incidents, all resolved.")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=int, default=40, help="support conversations' turns to send")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)  # noqa: S311 - demo data, not secrets
    neon.configure(service_name="demo-agents")
    for n in range(args.traces):
        session, user = f"chat-{n // 3}", rng.choice(["ada", "bob", "chen", "dora"])
        question, topic = rng.choice(QUESTIONS)
        support_turn(rng, session, user, question, topic, fail=n % 9 == 4)
        if n % 10 == 0:
            research_run(rng)
    neon.flush()


if __name__ == "__main__":
    main()
