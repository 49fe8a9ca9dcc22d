"""The Live Engine and our order ledger as a Dagster resource; publishing is on only when configured."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
from pydantic import Field

from nexus_assets.live_engine import LiveEngineClient, OrderLedger
from nexus_assets.live_engine.client import api_key_from_env


class LiveEngineResource(dg.ConfigurableResource):
    """Settings default to ``LIVE_ENGINE_URL``, ``LIVE_ENGINE_API_KEY`` (alias
    ``LIVE_ENGINE_SERVICE_API_KEY``), ``LIVE_ENGINE_PORTFOLIO_ID`` and ``NEXUS_LEDGER_DATABASE_URL``,
    read at run time, so a deployment without a Live Engine still loads and allocates, it just
    does not publish."""

    base_url: str | None = Field(default=None, description="Default: LIVE_ENGINE_URL.")
    api_key: str | None = Field(default=None, description="Default: LIVE_ENGINE_API_KEY (never logged).")
    strategy_id: str = Field(default="trade-nexus", description="Deployment the allocations trade in.")
    mode: str = Field(default="paper", description="paper or live.")
    capital: float = Field(default=1_000_000.0, gt=0)
    portfolio_id: str | None = Field(
        default=None,
        description="Default: LIVE_ENGINE_PORTFOLIO_ID, else the engine's only portfolio in `mode`.",
    )
    ledger_url: str | None = Field(
        default=None,
        description="Order ledger: NEXUS_LEDGER_DATABASE_URL (sqlite:/// or postgresql://), else "
        "<NEXUS_HOME>/execution/ledger.db.",
    )

    def _url(self) -> str | None:
        return self.base_url or os.environ.get("LIVE_ENGINE_URL") or None

    @property
    def enabled(self) -> bool:
        return self._url() is not None

    @property
    def portfolio(self) -> str | None:
        return self.portfolio_id or os.environ.get("LIVE_ENGINE_PORTFOLIO_ID") or None

    @contextmanager
    def client(self) -> Iterator[LiveEngineClient]:
        url = self._url()
        key = self.api_key or api_key_from_env()
        if url is None or not key:
            raise ValueError("LIVE_ENGINE_URL and LIVE_ENGINE_API_KEY: both are needed to publish")
        with LiveEngineClient(url, key) as client:
            yield client

    @contextmanager
    def ledger(self) -> Iterator[OrderLedger]:
        ledger = OrderLedger(self.ledger_url) if self.ledger_url else OrderLedger.from_env()
        try:
            yield ledger
        finally:
            ledger.close()
