"""Settling the ledger's open intents against the orders the engine actually holds.

Run before anything is sent. An intent ``sending`` (written, answer never recorded: a timeout,
a killed process) is matched to the engine's order of the same deployment, symbol, side, type
and quantity created since it was written and claimed by no other intent: found, it is
``placed`` and is not sent again; absent once ``in_flight_grace_s`` has passed since it was
written, it never arrived and is ``unsent``; absent sooner, it may still be on its way, and
publishing stops rather than guess (``InFlightError``). A ``placed`` intent's status is
refreshed from the engine's order of the same id **and** creation time (the engine hands ids
out again after a restart); when the engine no longer holds it, it is ``lost``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from nexus_assets.live_engine.ledger import Intent, OrderLedger
from nexus_assets.live_engine.models import Order

MATCH_WINDOW = timedelta(minutes=10)
"""How much earlier than the intent's write an engine order's ``createdAt`` may be and still be
its order: the engine keeps whole seconds, and its clock is not ours."""
IN_FLIGHT_GRACE_S = 30.0
"""An unanswered request older than this has either arrived or never will (the client gives up
after its 10 s timeout)."""


class InFlightError(RuntimeError):
    """An order sent moments ago is not yet in the engine's list: it may still arrive."""


@dataclass(frozen=True)
class Reconciliation:
    adopted: tuple[tuple[Intent, Order], ...] = ()
    """Intents left ``sending`` whose order the engine holds: recorded, never sent again."""
    unsent: tuple[Intent, ...] = ()
    lost: tuple[Intent, ...] = ()
    refreshed: int = 0
    """Placed intents whose status was read again."""


def order_key(order: Order) -> tuple[str, datetime]:
    return order.id, order.created_at


def matches(intent: Intent, order: Order) -> bool:
    """The order carries what the intent asked for."""
    return (
        order.deployment_id == intent.deployment_id
        and order.symbol == intent.symbol
        and order.side == intent.side
        and order.type == intent.order_type
        and math.isclose(order.quantity, intent.quantity, rel_tol=1e-9, abs_tol=1e-12)
    )


def engine_order_of(intent: Intent, orders: Sequence[Order]) -> Order | None:
    """The engine's order a placed intent names (same id, same creation time, same request)."""
    for order in orders:
        if (
            order.id == intent.engine_order_id
            and order.created_at == intent.engine_created_at
            and matches(intent, order)
        ):
            return order
    return None


def reconcile(
    ledger: OrderLedger,
    orders: Sequence[Order],
    deployment_id: str,
    *,
    now: datetime | None = None,
    in_flight_grace_s: float = IN_FLIGHT_GRACE_S,
) -> Reconciliation:
    """Settle ``deployment_id``'s open intents against ``orders``, the engine's list read just now."""
    now = now or datetime.now(UTC)
    intents = ledger.intents(deployment_id=deployment_id)
    claimed = {
        (i.engine_order_id, i.engine_created_at) for i in intents if i.state == "placed" and i.engine_order_id
    }
    adopted: list[tuple[Intent, Order]] = []
    unsent: list[Intent] = []
    lost: list[Intent] = []
    refreshed = 0
    for intent in intents:
        if intent.state == "placed" and intent.engine_status == "pending":
            order = engine_order_of(intent, orders)
            if order is None:
                ledger.settle(intent.client_key, "lost", "the engine no longer holds this order")
                lost.append(intent)
            else:
                ledger.observed(intent.client_key, order.status)
                refreshed += 1
        elif intent.state == "sending":
            candidates = [
                o
                for o in orders
                if matches(intent, o)
                and o.created_at >= intent.recorded_at - MATCH_WINDOW
                and order_key(o) not in claimed
            ]
            if candidates:
                order = min(candidates, key=lambda o: (o.created_at, o.id))
                ledger.placed(intent.client_key, order, detail="adopted from the engine's order list")
                claimed.add(order_key(order))
                adopted.append((intent, order))
            elif (now - intent.recorded_at).total_seconds() < in_flight_grace_s:
                raise InFlightError(
                    f"{intent.client_key}: sent {intent.recorded_at.isoformat()} and not in the engine's "
                    f"order list yet; publish again after {in_flight_grace_s:g}s"
                )
            else:
                ledger.settle(intent.client_key, "unsent", "not in the engine's order list: it never arrived")
                unsent.append(intent)
    return Reconciliation(tuple(adopted), tuple(unsent), tuple(lost), refreshed)
