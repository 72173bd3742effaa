"""The support agent's tools (examples/agents/support.yaml): deterministic, no network, so runs and tests of the
example give the same results everywhere.

Exceptions the spec lists under `non_retryable_errors` (OrderNotFound, RefundRefused) fail a call at once:
retrying cannot make an unknown order appear.
"""

from __future__ import annotations

from typing import Any

ORDERS: dict[str, dict[str, Any]] = {
    "A1001": {"status": "delivered", "items": ["kettle"], "total_eur": 39.90, "delivered_on": "2026-11-20"},
    "A1002": {"status": "shipped", "items": ["toaster", "bread knife"], "total_eur": 64.50, "delivered_on": None},
    "A1003": {"status": "delivered", "items": ["espresso machine"], "total_eur": 249.00,
              "delivered_on": "2026-09-02"},
}
POLICIES = {
    "refunds": "Delivered orders can be refunded within 30 days of delivery, up to the order total.",
    "shipping": "Orders ship within 2 working days; delivery takes 3 to 5 working days.",
    "warranty": "Appliances carry a 2-year warranty from the delivery date.",
}


class OrderNotFound(LookupError):
    """No order has this id."""


class RefundRefused(ValueError):
    """The order cannot be refunded this way (not delivered, or more than its total)."""


def lookup_order(order_id: str) -> dict[str, Any]:
    """An order's status, items, total and delivery date."""
    order = ORDERS.get(order_id)
    if order is None:
        raise OrderNotFound(f"no order {order_id!r}")
    return {"order_id": order_id, **order}


async def lookup_policy(topic: str) -> str:
    """The shop's policy on refunds, shipping or warranty (async: tools may be either)."""
    return POLICIES[topic]


def issue_refund(order_id: str, amount_eur: float, reason: str) -> dict[str, Any]:
    """Refund `amount_eur` of a delivered order; the refund id is derived from the order and amount, so a retried
    call names the same refund."""
    order = lookup_order(order_id)
    if order["status"] != "delivered":
        raise RefundRefused(f"order {order_id} is {order['status']}, not delivered yet")
    if amount_eur > order["total_eur"]:
        raise RefundRefused(f"{amount_eur:.2f} EUR is more than the order total ({order['total_eur']:.2f} EUR)")
    cents = round(amount_eur * 100)
    return {"refund_id": f"R-{order_id}-{cents}", "order_id": order_id, "amount_eur": cents / 100,
            "reason": reason, "status": "issued"}
