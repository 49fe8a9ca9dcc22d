"""The state behind the Live Engine stand-in, with the real engine's behaviour.

As the engine's internal execution store: every POST creates a new order or deployment (an
``idempotencyKey`` is accepted and ignored), ids count up (``ord-001``, ``dep-001``), orders
start ``pending``, a cancel leaves a filled order filled and makes anything else cancelled,
deployments start ``queued``, and portfolios are their own records (``portfolio-paper-001``,
``portfolio-live-001``), not deployments. What the real store leaves to its brokers the
stand-in simulates on its bar clock: at each new bar the pending orders placed before it fill
(``fill_price``) into the portfolio of their deployment's mode (paper when the order names no
known deployment), and an order for a symbol the market does not know is rejected, so a client
observes fills and rejections instead of assuming them. ``forget_orders`` is the engine's
restart: its store is in memory, so it forgets every order and counts ids from the start again.
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
    DeploymentRecord,
    DeploymentSpec,
    EngineError,
    OrderRecord,
    OrderSpec,
    PortfolioRecord,
)
from nexus_assets.sim.market import DEFAULT_SYMBOLS

MODES = ("paper", "live")


@dataclass(frozen=True)
class WorldConfig:
    seed: int = 7
    symbols: tuple[str, ...] = DEFAULT_SYMBOLS
    initial_bars: int = 1260
    """As the Lona stand-in: the bar current at start-up closes at the newest finished close."""
    last_close: datetime | None = None
    capital: float = 1_000_000.0
    """Each portfolio's cash at start-up."""


def portfolio_id(mode: str) -> str:
    return f"portfolio-{mode}-001"


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
        self.reset()

    def reset(self) -> None:
        """Back to the empty store (the real engine's ``resetExecutionStore``); the bar clock runs on."""
        with self._lock:
            self._order_count = 0
            self._deployment_count = 0
            self._orders: dict[str, OrderRecord] = {}
            self._deployments: dict[str, DeploymentRecord] = {}
            self._portfolios = {
                portfolio_id(mode): PortfolioRecord(
                    portfolio_id(mode), mode, self.config.capital, self.config.capital
                )
                for mode in MODES
            }

    # deployments -------------------------------------------------------------------------

    def create_deployment(self, spec: DeploymentSpec) -> dict[str, Any]:
        with self._lock:
            self._deployment_count += 1
            now = self._clock()
            record = DeploymentRecord(f"dep-{self._deployment_count:03d}", spec, now, now)
            self._deployments[record.id] = record
            return record.to_json()

    def _deployment(self, identifier: str) -> DeploymentRecord:
        record = self._deployments.get(identifier)
        if record is None:
            record = next((d for d in self._deployments.values() if f"live-{d.id}" == identifier), None)
        if record is None:
            raise EngineError(404, "Deployment not found")
        return record

    def deployments(self, status: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [d.to_json() for d in self._deployments.values() if not status or d.status == status]

    def deployment(self, identifier: str) -> dict[str, Any]:
        with self._lock:
            return self._deployment(identifier).to_json()

    def stop_deployment(self, identifier: str) -> dict[str, Any]:
        with self._lock:
            record = self._deployment(identifier)
            record.stop(self._clock())
            return record.to_json()

    # portfolios --------------------------------------------------------------------------

    def portfolios(self) -> list[dict[str, Any]]:
        with self._lock:
            closes = self._bars.closes()
            return [p.to_json(closes) for p in self._portfolios.values()]

    def portfolio(self, identifier: str) -> dict[str, Any]:
        with self._lock:
            record = self._portfolios.get(identifier)
            if record is None:
                raise EngineError(404, "Portfolio not found")
            return record.to_json(self._bars.closes())

    def _portfolio_of(self, spec: OrderSpec) -> PortfolioRecord:
        deployment = self._deployments.get(spec.deployment_id) if spec.deployment_id else None
        return self._portfolios[portfolio_id(deployment.spec.mode if deployment else "paper")]

    # orders ------------------------------------------------------------------------------

    def place_order(self, spec: OrderSpec) -> dict[str, Any]:
        """A new pending order, whatever was placed before."""
        with self._lock:
            self._order_count += 1
            record = OrderRecord(f"ord-{self._order_count:03d}", spec, self._bars.index, self._clock())
            self._orders[record.id] = record
            return record.to_json()

    def _order(self, identifier: str) -> OrderRecord:
        record = self._orders.get(identifier)
        if record is None:
            record = next((o for o in self._orders.values() if o.provider_order_id == identifier), None)
        if record is None:
            raise EngineError(404, "Order not found")
        return record

    def get_order(self, identifier: str) -> dict[str, Any]:
        with self._lock:
            return self._order(identifier).to_json()

    def cancel_order(self, identifier: str) -> dict[str, Any]:
        """A filled order stays filled; anything else becomes cancelled (the real store's rule)."""
        with self._lock:
            record = self._order(identifier)
            if record.status != "filled":
                record.status = "cancelled"
            return record.to_json()

    def list_orders(self, status: str | None = None) -> list[dict[str, Any]]:
        """Every order in the order it was placed."""
        with self._lock:
            return [r.to_json() for r in self._orders.values() if not status or r.status == status]

    def fills(self) -> list[dict[str, Any]]:
        """Every order with the price it filled at (None while unfilled): the stand-in's own view."""
        with self._lock:
            return [{**r.to_json(), "fillPrice": r.fill_price} for r in self._orders.values()]

    def forget_orders(self) -> int:
        """Drop every order and restart the id count, as the real engine does when it restarts
        (ids are handed out again: an id alone does not say which order it is); portfolios are kept."""
        with self._lock:
            forgotten = len(self._orders)
            self._orders.clear()
            self._order_count = 0
            return forgotten

    # clock -------------------------------------------------------------------------------

    def tick(self) -> dict[str, Any]:
        """Advance to the next bar and fill (or reject) the resting orders it reaches."""
        with self._lock:
            self._bars.advance()
            self._ticks += 1
            filled = []
            for record in self._orders.values():
                if record.status != "pending" or record.placed_bar >= self._bars.index:
                    continue
                spec = record.spec
                if not self._bars.knows(spec.symbol):
                    record.status = "rejected"
                    continue
                price = fill_price(spec.side, spec.type, spec.price, self._bars.bar(spec.symbol))
                if price is None:
                    continue
                record.status, record.fill_price = "filled", price
                self._portfolio_of(spec).fill(spec.side, spec.symbol, spec.quantity, price)
                filled.append(record.id)
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
