"""Helpers for the serving tests: a real uvicorn server on a free loopback port, request bodies."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import polars as pl
import uvicorn
from pydantic import SecretStr

from nexus_assets.sim.market import MarketSimConfig
from nexus_serving.main import create_app
from nexus_serving.settings import Settings

TOKEN = "test-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
MARKET = MarketSimConfig(
    symbols=tuple(f"S{i}" for i in range(12)), n_bars=800, seed=7, reversal=0.3, calm_to_stress=0.0
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serve(settings: Settings) -> Iterator[httpx.Client]:
    """Run the app under uvicorn in a thread; yield a client on its base URL."""
    port = free_port()
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
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


def decision_body(
    market: pl.DataFrame,
    *,
    request_id: str,
    symbol: str = "S0",
    bars: int = 120,
    side: str = "buy",
    strength: float = 0.8,
    as_symbol: str | None = None,
    portfolio: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The newest ``bars`` of a simulated symbol, re-dated to end an hour ago (so they are fresh)."""
    rows = market.filter(pl.col("symbol") == symbol).tail(bars)
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    stamps = [(end - timedelta(days=bars - 1 - i)).isoformat().replace("+00:00", "Z") for i in range(bars)]
    body: dict[str, Any] = {
        "request_id": request_id,
        "signal": {
            "signal_id": f"sig-{request_id}",
            "strategy_id": "st-1",
            "symbol": as_symbol or symbol,
            "side": side,
            "strength": strength,
            "timestamp": stamps[-1],
        },
        "bars": {
            "timestamp": stamps,
            **{c: rows[c].to_list() for c in ("open", "high", "low", "close", "volume")},
        },
    }
    if portfolio is not None:
        body["portfolio"] = portfolio
    return body
