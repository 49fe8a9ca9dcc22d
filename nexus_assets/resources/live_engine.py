"""The Live Engine as a Dagster resource; publishing is on only when it is configured."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
from pydantic import Field

from nexus_assets.live_engine import LiveEngineClient
from nexus_assets.live_engine.client import api_key_from_env


class LiveEngineResource(dg.ConfigurableResource):
    """Settings default to ``LIVE_ENGINE_URL`` and ``LIVE_ENGINE_API_KEY`` (alias
    ``LIVE_ENGINE_SERVICE_API_KEY``), read at run time,
    so a deployment without a Live Engine still loads and allocates, it just does not publish."""

    base_url: str | None = Field(default=None, description="Default: LIVE_ENGINE_URL.")
    api_key: str | None = Field(default=None, description="Default: LIVE_ENGINE_API_KEY (never logged).")
    strategy_id: str = Field(default="trade-nexus", description="Deployment the allocations trade in.")
    mode: str = Field(default="paper", description="paper or live.")
    capital: float = Field(default=1_000_000.0, gt=0)

    def _url(self) -> str | None:
        return self.base_url or os.environ.get("LIVE_ENGINE_URL") or None

    @property
    def enabled(self) -> bool:
        return self._url() is not None

    @contextmanager
    def client(self) -> Iterator[LiveEngineClient]:
        url = self._url()
        key = self.api_key or api_key_from_env()
        if url is None or not key:
            raise ValueError("LIVE_ENGINE_URL and LIVE_ENGINE_API_KEY: both are needed to publish")
        with LiveEngineClient(url, key) as client:
            yield client
