"""Helpers for the serving tests: a real uvicorn server on a free loopback port, request bodies."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import polars as pl
import uvicorn
from pydantic import SecretStr

from nexus_assets.sim.decision_bodies import decision_body
from nexus_assets.sim.market import MarketSimConfig
from nexus_assets.sim.process import free_port
from nexus_serving.main import create_app
from nexus_serving.server_config import connection_options, server_config
from nexus_serving.settings import Settings

__all__ = [
    "AUTH",
    "MARKET",
    "TOKEN",
    "decision_body",
    "free_port",
    "serve",
    "serve_app",
    "settings_for",
    "store_asset",
]

TOKEN = "test-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
MARKET = MarketSimConfig(
    symbols=tuple(f"S{i}" for i in range(12)), n_bars=800, seed=7, reversal=0.3, calm_to_stress=0.0
)


@contextmanager
def serve(settings: Settings) -> Iterator[httpx.Client]:
    """Run the app of ``settings`` under uvicorn in a thread; yield a client on its base URL."""
    with serve_app(create_app(settings), **connection_options(settings)) as client:
        yield client


@contextmanager
def serve_app(app: Any, **options: Any) -> Iterator[httpx.Client]:
    """Run ``app`` under uvicorn in a thread; yield a client on its base URL."""
    port = free_port()
    config = server_config(app, host="127.0.0.1", port=port, log_level="warning", **options)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            yield client
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def settings_for(tracking_uri: str, cache_dir: Path, **overrides: Any) -> Settings:
    return Settings(
        env="test",
        api_tokens=SecretStr(f"{TOKEN},another-token-abcdefghijkl"),
        tracking_uri=tracking_uri,
        model_cache_dir=cache_dir,
        **overrides,
    )


def store_asset(table: pl.DataFrame, data_dir: Path, file_name: str) -> None:
    """Store a table as the Parquet IO manager does: whole, by an atomic rename."""
    data_dir.mkdir(parents=True, exist_ok=True)
    temporary = data_dir / f".{file_name}.tmp"
    table.write_parquet(temporary)
    os.replace(temporary, data_dir / file_name)
