"""A stand-in model for the support agent, so a durable run can be tried with no API key: a local HTTP server
speaking OpenAI's chat-completions API (Neon's FakeLLMServer) that answers like a support model would.

    python examples/agents/fake_llm.py              # prints the two variables to export, then serves
    OPENAI_BASE_URL=http://127.0.0.1:3011/v1 OPENAI_API_KEY=fake NEON_AGENTS_PATH=examples/agents make up
    .venv/bin/neon agent run support --input "Where is my order A1001?" --follow

It reads the conversation: an order id makes it look the order up, "refund" makes it ask to refund the order
(a call that waits for your approval), "policy" makes it quote the refund policy; a tool result is answered
in a sentence. Replies stream word by word, so `--follow` shows tokens arriving.
"""

from __future__ import annotations

import argparse
import json
import re
import time

from neon.llm.fake import FakeLLMServer, FakeReply, FakeRequest, FakeToolCall

ORDER = re.compile(r"\bA\d{4}\b")


def support_model(request: FakeRequest) -> FakeReply:
    """The next reply of the support conversation in `request` (deterministic: the same request, the same reply)."""
    results = request.tool_results
    if results:
        return FakeReply(text=_summarise(results[-1]), stream_delay=0.03)
    text = request.last_user_message
    order = ORDER.search(text)
    if "refund" in text.lower() and order:
        amount = {"A1001": 39.9, "A1002": 64.5, "A1003": 249.0}.get(order.group(), 10.0)
        return FakeReply(text=f"I can refund order {order.group()} in full; this needs a person's approval.",
                         tool_calls=[FakeToolCall("issue_refund", {"order_id": order.group(), "amount_eur": amount,
                                                                   "reason": "customer request"})])
    if order:
        return FakeReply(text="Let me look that order up.",
                         tool_calls=[FakeToolCall("lookup_order", {"order_id": order.group()})])
    if "polic" in text.lower() or "refund" in text.lower():
        return FakeReply(tool_calls=[FakeToolCall("lookup_policy", {"topic": "refunds"})])
    return FakeReply(text="I can look orders up (give me an id like A1001), quote our policies, or refund an "
                          "order.", stream_delay=0.03)


def _summarise(result: dict[str, object]) -> str:
    content = str(result.get("content", ""))
    if result.get("is_error") or content.startswith("error"):
        return f"Sorry, that did not work: {content.removeprefix('error: ')}"
    try:
        value = json.loads(content)
    except ValueError:
        return content
    if isinstance(value, dict) and "refund_id" in value:
        return f"Done: refund {value['refund_id']} of {value['amount_eur']:.2f} EUR is on its way."
    if isinstance(value, dict) and "status" in value:
        when = f", delivered on {value['delivered_on']}" if value.get("delivered_on") else ""
        return f"Order {value['order_id']} ({', '.join(value['items'])}) is {value['status']}{when}."
    return str(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=3011)
    args = parser.parse_args()
    with FakeLLMServer(reply=support_model, port=args.port) as server:
        print(f"export OPENAI_BASE_URL={server.openai_base_url} OPENAI_API_KEY=fake", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
