"""Market data behind one resource interface: simulator (default), files, or Lona.

Assets depend on ``MarketDataSource`` only, so switching the source is configuration, not code.
"""

from __future__ import annotations

import os
from datetime import date, datetime
from pathlib import Path

import dagster as dg
import polars as pl
from pydantic import Field

from nexus_assets.clock import now_utc
from nexus_assets.marketdata.files import read_bars_folder
from nexus_assets.ml.bars import BarsValidationError, validate_bars
from nexus_assets.resources.lona import LonaGateway
from nexus_assets.sim.market import (
    DEFAULT_SYMBOLS,
    MarketSimConfig,
    latest_close,
    simulate_market,
    start_for_end,
)


class MarketDataSource(dg.ConfigurableResource):
    """Interface every market data source implements."""

    def load_bars(self) -> pl.DataFrame:
        """Validated bars in the canonical layout (see ``nexus_assets.ml.bars``)."""
        raise NotImplementedError(f"{type(self).__name__} does not implement load_bars")

    def describe_source(self) -> str:
        """One line for run metadata, so operators see where the bars came from."""
        return type(self).__name__


class SimulatedMarketData(MarketDataSource):
    """The seeded market simulator; by default its last bar is the newest finished close."""

    symbols: list[str] = Field(default_factory=lambda: list(DEFAULT_SYMBOLS))
    n_bars: int = Field(default=1260, ge=2, le=100_000, description="Bars per symbol.")
    seed: int = Field(default=7, description="Same seed, same market.")
    end_date: str | None = Field(default=None, description="ISO date of the last bar; default: latest close.")

    def load_bars(self) -> pl.DataFrame:
        if self.end_date is None:
            end = latest_close(now_utc())
        else:
            try:
                end = datetime.combine(date.fromisoformat(self.end_date), datetime.min.time())
            except ValueError as error:
                raise ValueError(f"end_date: {error}") from error
        config = MarketSimConfig(
            symbols=tuple(self.symbols),
            n_bars=self.n_bars,
            seed=self.seed,
            start=start_for_end(end, self.n_bars),
        )
        return simulate_market(config)

    def describe_source(self) -> str:
        return f"simulator(seed={self.seed}, symbols={len(self.symbols)}, bars={self.n_bars})"


class FileMarketData(MarketDataSource):
    """CSV or Parquet files in a folder: one file per symbol (named by its stem) or long tables."""

    path: str = Field(description="Folder (or single file) holding the bar files.")
    symbols: list[str] | None = Field(default=None, description="Restrict to these symbols.")

    def load_bars(self) -> pl.DataFrame:
        return read_bars_folder(Path(self.path), symbols=self.symbols)

    def describe_source(self) -> str:
        return f"files({self.path})"


class LonaMarketData(MarketDataSource):
    """Bars from Lona's symbols API (``GET symbols/{id}/data``)."""

    lona: LonaGateway
    symbols: list[str] | None = Field(default=None, description="Symbol names; default: all Lona symbols.")

    def load_bars(self) -> pl.DataFrame:
        with self.lona.client() as client:
            available = {item["name"]: item["id"] for item in client.list_symbols()}
            wanted = self.symbols or sorted(available)
            missing = [name for name in wanted if name not in available]
            if missing:
                raise BarsValidationError(
                    f"symbols not on Lona: {', '.join(missing)}", source="lona", column="symbol"
                )
            frames = [client.get_symbol_data(available[name]) for name in wanted]
        return validate_bars(pl.concat(frames), source="lona")

    def describe_source(self) -> str:
        return f"lona({self.lona.base_url})"


def market_data_from_env(lona: LonaGateway) -> MarketDataSource:
    """The source named by ``NEXUS_MARKET_SOURCE`` (simulator, file or lona)."""
    source = os.environ.get("NEXUS_MARKET_SOURCE", "simulator").strip().lower()
    if source == "simulator":
        return SimulatedMarketData()
    if source == "file":
        return FileMarketData(path=dg.EnvVar("NEXUS_MARKET_PATH"))
    if source == "lona":
        return LonaMarketData(lona=lona)
    raise ValueError(f"NEXUS_MARKET_SOURCE: expected simulator, file or lona, got {source!r}")
