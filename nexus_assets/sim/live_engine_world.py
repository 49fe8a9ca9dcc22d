"""The state behind the Live Engine stand-in: deployments, orders, accounts and a bar clock.

Orders rest until the clock advances, then fill against the new bar (``fill_price``), so a
test sees the engine's real rhythm: placed now, filled at the next bar. Idempotency keys are
scoped to a deployment for orders (two deployments may publish the same allocation) and
global for deployments; a repeated key with the same request answers the first record, with
a different request it is refused (409). Ids derive from the seed and a sequence number, so
stand-ins started alike and driven alike hand out the same ids; timestamps follow the wall
clock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from nexus_assets.clock import now_utc
from nexus_assets.lona.wire import format_time
from nexus_assets.sim.live_engine_market import BarClock, fill_price
from nexus_assets.sim.live_engine_records import (
    Account,
    DeploymentRecord,
    DeploymentSpec,
    EngineError,
    OrderRecord,
    OrderSpec,
)
from nexus_assets.sim.market import DEFAULT_SYMBOLS
from nexus_assets.sim.strategies import stable_id


@dataclass(frozen=True)
class WorldConfig:
    seed: int = 7
    symbols: tuple[str, ...] = DEFAULT_SYMBOLS
    initial_bars: int = 1260
    """As the Lona stand-in: the bar current at start-up closes at the newest finished close."""
    last_close: datetime | None = None


class LiveEngineWorld:
    """Thread-safe: the HTTP handlers and the ticker share one instance."""

    def __init__(self, config: WorldConfig | None = None, clock: Callable[[], datetime] = now_utc) -> None:
        self.config = config or WorldConfig()
        self._clock = clock
        self._lock = threading.RLock()
        self._bars = BarClock(
            seed=self.config.seed,
            symbols=self.config.symbols,
            initial_bars=self.config.initial_bars,
            last_close=self.config.last_close,
            clock=clock,
        )
        self._ticks = 0
        self._sequence = 0
        self._orders: dict[str, OrderRecord] = {}
        self._order_keys: dict[tuple[str, str], str] = {}
        self._deployments: dict[str, DeploymentRecord] = {}
        self._deployment_keys: dict[str, str] = {}
        self._accounts: dict[str, Account] = {}

    def _next_id(self, kind: str) -> str:
        self._sequence += 1
        return stable_id("live-engine-stand-in", self.config.seed, kind, self._sequence)

    # deployments and portfolios ----------------------------------------------------------

    def create_deployment(self, spec: DeploymentSpec) -> tuple[dict[str, Any], bool]:
        """``(deployment, created)``; a new deployment's portfolio starts as all cash."""
        with self._lock:
            known = self._deployment_keys.get(spec.idempotency_key)
            if known is not None:
                record = self._deployments[known]
                if record.spec != spec:
                    raise EngineError(
                        409,
                        f"idempotencyKey {spec.idempotency_key!r} was used for a different deployment",
                    )
                return record.to_json(), False
            now = self._clock()
            record = DeploymentRecord(self._next_id("deployment"), spec, now)
            self._deployments[record.id] = record
            self._deployment_keys[spec.idempotency_key] = record.id
            self._accounts[record.id] = Account(record.id, spec.capital, now)
            return record.to_json(), True

    def _account(self, deployment_id: str) -> Account:
        account = self._accounts.get(deployment_id)
        if account is None:
            raise EngineError(404, f"deployment {deployment_id!r} not found")
        return account

    def portfolios(self) -> list[dict[str, Any]]:
        with self._lock:
            closes = self._bars.closes()
            return [a.to_json(closes) for a in self._accounts.values()]

    def portfolio(self, deployment_id: str) -> dict[str, Any]:
        with self._lock:
            return self._account(deployment_id).to_json(self._bars.closes())

    # orders ------------------------------------------------------------------------------

    def place_order(self, spec: OrderSpec) -> tuple[dict[str, Any], bool]:
        """``(order, created)``: a new pending order, or the one already under the key."""
        with self._lock:
            if not self._bars.knows(spec.symbol):
                raise EngineError(422, f"symbol: unknown symbol {spec.symbol!r}")
            self._account(spec.deployment_id)
            key = (spec.deployment_id, spec.idempotency_key)
            known = self._order_keys.get(key)
            if known is not None:
                record = self._orders[known]
                if record.spec != spec:
                    raise EngineError(
                        409, f"idempotencyKey {spec.idempotency_key!r} was used for a different order"
                    )
                return record.to_json(), False
            now = self._clock()
            record = OrderRecord(self._next_id("order"), spec, self._bars.index, now, now)
            self._orders[record.id] = record
            self._order_keys[key] = record.id
            return record.to_json(), True

    def _order(self, order_id: str) -> OrderRecord:
        record = self._orders.get(order_id)
        if record is None:
            raise EngineError(404, f"order {order_id!r} not found")
        return record

    def get_order(self, order_id: str) -> dict[str, Any]:
        with self._lock:
            return self._order(order_id).to_json()

    def cancel_order(self, order_id: str) -> dict[str, Any]:
        """Cancel a pending order; cancelling it again answers it again, so a retry is harmless."""
        with self._lock:
            record = self._order(order_id)
            if record.status == "pending":
                record.status, record.updated_at = "cancelled", self._clock()
            elif record.status != "cancelled":
                raise EngineError(409, f"order {order_id!r} is {record.status} and cannot be cancelled")
            return record.to_json()

    def list_orders(self) -> list[dict[str, Any]]:
        """Every order in the order it was placed."""
        with self._lock:
            return [r.to_json() for r in self._orders.values()]

    # clock -------------------------------------------------------------------------------

    def tick(self) -> dict[str, Any]:
        """Advance to the next bar and fill the resting orders it reaches."""
        with self._lock:
            self._bars.advance()
            self._ticks += 1
            now = self._clock()
            filled = []
            for record in self._orders.values():
                if record.status != "pending" or record.placed_bar >= self._bars.index:
                    continue
                spec = record.spec
                price = fill_price(spec.side, spec.type, spec.price, self._bars.bar(spec.symbol))
                if price is None:
                    continue
                record.status, record.updated_at = "filled", now
                record.filled_quantity, record.filled_price = spec.quantity, price
                self._accounts[spec.deployment_id].fill(spec.side, spec.symbol, spec.quantity, price, now)
                filled.append(record.id)
            for account in self._accounts.values():
                account.updated_at = now
            return {**self.state(), "filled": filled}

    def state(self) -> dict[str, Any]:
        with self._lock:
            return {
                "seed": self.config.seed,
                "ticks": self._ticks,
                "bar_index": self._bars.index,
                "bar_time": format_time(self._bars.time),
                "closes": self._bars.closes(),
                "orders": len(self._orders),
                "pending": sum(1 for r in self._orders.values() if r.status == "pending"),
                "deployments": len(self._deployments),
            }
