"""Talking to the Live Engine: client, typed errors and results, our order ledger, and publishing."""

from nexus_assets.live_engine.client import LiveEngineClient
from nexus_assets.live_engine.errors import (
    LiveEngineAuthError,
    LiveEngineConfigError,
    LiveEngineConflictError,
    LiveEngineConnectionError,
    LiveEngineError,
    LiveEngineNotFoundError,
    LiveEngineProtocolError,
    LiveEngineRateLimitError,
    LiveEngineServerError,
    LiveEngineValidationError,
    PublishInterruptedError,
)
from nexus_assets.live_engine.ledger import Intent, LedgerBusyError, OrderLedger
from nexus_assets.live_engine.models import Deployment, Order, OrderRequest, Portfolio, Position
from nexus_assets.live_engine.plan import plan_orders
from nexus_assets.live_engine.publish import PublishReport, publish_allocation

__all__ = [
    "Deployment",
    "Intent",
    "LedgerBusyError",
    "LiveEngineAuthError",
    "LiveEngineClient",
    "LiveEngineConfigError",
    "LiveEngineConflictError",
    "LiveEngineConnectionError",
    "LiveEngineError",
    "LiveEngineNotFoundError",
    "LiveEngineProtocolError",
    "LiveEngineRateLimitError",
    "LiveEngineServerError",
    "LiveEngineValidationError",
    "Order",
    "OrderLedger",
    "OrderRequest",
    "Portfolio",
    "Position",
    "PublishInterruptedError",
    "PublishReport",
    "plan_orders",
    "publish_allocation",
]
