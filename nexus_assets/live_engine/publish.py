"""Publishing one allocation to the Live Engine through our ledger, exactly once.

``publish_allocation`` is the one path the ``live_engine_orders`` asset and ``nexus publish``
take. Under the ledger's hold on the deployment it:

1. reads the engine's orders and the portfolio; when either cannot be read nothing is written
   and the error propagates (fail closed);
2. settles the ledger's open intents against that order list (``reconcile``);
3. cancels what older allocations still have pending on this deployment (a newer allocation
   supersedes them) and reads the portfolio again, since an order may fill before its cancel;
4. plans the symbols this allocation has not traded yet from the actual positions, and for each
   order writes its intent, sends it, and records the engine's answer. A refused connection
   settles the intent ``unsent`` and stops; a lost answer (timeout, 5xx) leaves it ``sending``
   and stops, to be settled by the next publish; a 400 settles it ``rejected`` and goes on;
5. reads the orders again and checks that the engine holds exactly this allocation's orders
   and nothing else pending of ours (``PublishReport.problems``), and how far the book is from
   the target (``PublishReport.divergences``).

An allocation trades each symbol once: publishing it again places nothing, whether its orders
are still pending or already filled. A symbol is traded again under the same allocation only
when its earlier attempt never reached the engine or the engine lost it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from nexus_assets.live_engine.client import LiveEngineClient
from nexus_assets.live_engine.divergence import DEFAULT_TOLERANCE, Divergence, book_divergences
from nexus_assets.live_engine.errors import (
    LiveEngineAuthError,
    LiveEngineConnectionError,
    LiveEngineError,
    LiveEngineValidationError,
    PublishInterruptedError,
)
from nexus_assets.live_engine.ledger import Intent, OrderLedger
from nexus_assets.live_engine.models import Order, Portfolio
from nexus_assets.live_engine.plan import plan_orders
from nexus_assets.live_engine.reconcile import (
    IN_FLIGHT_GRACE_S,
    Reconciliation,
    engine_order_of,
    order_key,
    reconcile,
)

RETRADABLE_STATES = frozenset({"unsent", "lost"})
"""An intent in these states holds no order at the engine: its symbol may be traded again."""


@dataclass(frozen=True)
class PublishReport:
    allocation_id: str
    deployment_id: str
    portfolio_id: str
    equity: float
    """What the orders were sized on: the caller's, or the portfolio's total value."""
    reconciliation: Reconciliation
    cancelled: tuple[Order, ...]
    """Older allocations' orders cancelled unfilled."""
    placed: tuple[Order, ...]
    """Orders this publish placed."""
    orders: tuple[Order, ...]
    """Every order of this allocation the engine holds, as its final list shows them."""
    client_keys: Mapping[str, str]
    """Our key of each of ``orders``, by engine order id."""
    rejected: tuple[tuple[str, str], ...]
    """``(symbol, engine message)`` of orders the engine refused."""
    problems: tuple[str, ...]
    """Why the engine does not hold exactly the intended orders; empty when it does."""
    divergences: tuple[Divergence, ...]

    @property
    def exact(self) -> bool:
        return not self.problems


def _cancel_superseded(
    client: LiveEngineClient, ledger: OrderLedger, deployment_id: str, allocation_id: str
) -> tuple[list[Order], bool]:
    """Cancel older allocations' pending orders; ``(cancelled, tried any)``."""
    cancelled, tried = [], False
    for intent in ledger.open_intents(deployment_id):
        if intent.allocation_id == allocation_id or intent.engine_order_id is None:
            continue
        tried = True
        order = client.cancel_order(intent.engine_order_id)
        ledger.observed(intent.client_key, order.status)
        if order.status == "cancelled":
            cancelled.append(order)
    return cancelled, tried


def _attempts(intents: Sequence[Intent]) -> tuple[set[str], dict[str, int]]:
    """Symbols this allocation has traded, and the next attempt number of every symbol."""
    traded = {i.symbol for i in intents if i.state not in RETRADABLE_STATES}
    attempts: dict[str, int] = {}
    for intent in intents:
        attempts[intent.symbol] = attempts.get(intent.symbol, 1) + 1
    return traded, attempts


def _send(
    client: LiveEngineClient, ledger: OrderLedger, allocation_id: str, requests: Sequence
) -> tuple[list[Order], list[tuple[str, str]]]:
    placed, rejected = [], []
    for request in requests:
        ledger.record(request, allocation_id)
        try:
            order = client.place_order(request)
        except LiveEngineValidationError as exc:
            ledger.settle(request.client_key, "rejected", exc.message)
            rejected.append((request.symbol, exc.message))
            continue
        except LiveEngineAuthError as exc:
            ledger.settle(request.client_key, "unsent", exc.message)
            raise
        except LiveEngineConnectionError as exc:
            if not exc.request_sent:
                ledger.settle(request.client_key, "unsent", exc.message)
                raise
            raise PublishInterruptedError(
                f"{request.client_key}: {exc.message}; the order may have reached the engine, "
                "publishing again settles it from the engine's order list",
                method=exc.method,
                path=exc.path,
            ) from exc
        except LiveEngineError as exc:
            raise PublishInterruptedError(
                f"{request.client_key}: {exc.message}; the order may have reached the engine, "
                "publishing again settles it from the engine's order list",
                status=exc.status,
                method=exc.method,
                path=exc.path,
            ) from exc
        ledger.placed(request.client_key, order)
        placed.append(order)
    return placed, rejected


def _verify(
    ledger: OrderLedger, orders: Sequence[Order], deployment_id: str, allocation_id: str
) -> tuple[list[tuple[Intent, Order]], list[str]]:
    """This allocation's intents with their orders as the engine holds them, and every way the
    engine's book of our deployment differs from the ledger's."""
    problems: list[str] = []
    mine: list[tuple[Intent, Order]] = []
    claimed = set()
    for intent in ledger.intents(deployment_id=deployment_id):
        if intent.state == "placed" and intent.engine_order_id is not None:
            claimed.add((intent.engine_order_id, intent.engine_created_at))
        if intent.allocation_id != allocation_id:
            if intent.is_open:
                problems.append(f"{intent.client_key}: an older allocation's order is still open")
            continue
        if intent.state == "rejected":
            problems.append(f"{intent.client_key}: rejected by the engine ({intent.detail})")
        elif intent.state == "sending":
            problems.append(f"{intent.client_key}: not settled")
        elif intent.state == "placed":
            order = engine_order_of(intent, orders)
            if order is None:
                problems.append(f"{intent.client_key}: {intent.engine_order_id} is not in the engine's list")
                continue
            ledger.observed(intent.client_key, order.status)
            mine.append((intent, order))
            if order.status in ("cancelled", "rejected", "failed"):
                problems.append(f"{intent.client_key}: {order.id} is {order.status}")
    for order in orders:
        if (
            order.deployment_id == deployment_id
            and order.status == "pending"
            and order_key(order) not in claimed
        ):
            problems.append(
                f"{order.id}: a pending {order.side} of {order.symbol} that the ledger did not send"
            )
    return mine, problems


def publish_allocation(
    client: LiveEngineClient,
    ledger: OrderLedger,
    target_weights: Mapping[str, float],
    *,
    prices: Mapping[str, float],
    allocation_id: str,
    deployment_id: str,
    portfolio_id: str,
    equity: float | None = None,
    min_notional: float = 1.0,
    lot_size: float = 1.0,
    tolerance: float = DEFAULT_TOLERANCE,
    in_flight_grace_s: float = IN_FLIGHT_GRACE_S,
) -> PublishReport:
    """Move the portfolio toward ``target_weights`` with orders sent exactly once (see the module)."""
    with ledger.exclusive(deployment_id):
        orders = client.list_orders()
        portfolio: Portfolio = client.get_portfolio(portfolio_id)
        settled = reconcile(ledger, orders, deployment_id, in_flight_grace_s=in_flight_grace_s)
        cancelled, tried = _cancel_superseded(client, ledger, deployment_id, allocation_id)
        if tried:
            portfolio = client.get_portfolio(portfolio_id)
        sizing = portfolio.total_value if equity is None else equity
        traded, attempts = _attempts(ledger.intents(allocation_id=allocation_id, deployment_id=deployment_id))
        planned = plan_orders(
            {s: w for s, w in target_weights.items() if s not in traded},
            {s: q for s, q in portfolio.quantities.items() if s not in traded},
            prices,
            sizing,
            allocation_id=allocation_id,
            deployment_id=deployment_id,
            min_notional=min_notional,
            lot_size=lot_size,
            attempts=attempts,
        )
        placed, rejected = _send(client, ledger, allocation_id, planned)
        final = client.list_orders()
        mine, problems = _verify(ledger, final, deployment_id, allocation_id)
        portfolio = client.get_portfolio(portfolio_id)
        pending: dict[str, float] = {}
        for _, order in mine:
            if order.status == "pending":
                signed = order.quantity if order.side == "buy" else -order.quantity
                pending[order.symbol] = pending.get(order.symbol, 0.0) + signed
        divergences = book_divergences(
            target_weights, portfolio.quantities, pending, prices, sizing, tolerance
        )
        return PublishReport(
            allocation_id=allocation_id,
            deployment_id=deployment_id,
            portfolio_id=portfolio_id,
            equity=sizing,
            reconciliation=settled,
            cancelled=tuple(cancelled),
            placed=tuple(placed),
            orders=tuple(order for _, order in mine),
            client_keys={order.id: intent.client_key for intent, order in mine},
            rejected=tuple(rejected),
            problems=tuple(problems),
            divergences=tuple(divergences),
        )
