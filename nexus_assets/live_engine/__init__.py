"""Talking to the Live Engine: client, typed errors and results, and allocation publishing."""

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
)
from nexus_assets.live_engine.models import Deployment, Order, OrderPlacement, OrderRequest, Portfolio
from nexus_assets.live_engine.publish import PublishResult, plan_orders, publish_allocation

__all__ = [
    "Deployment",
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
    "OrderPlacement",
    "OrderRequest",
    "Portfolio",
    "PublishResult",
    "plan_orders",
    "publish_allocation",
]
