"""Public reference data shipped by well-known packages, in the canonical bar layout."""

from __future__ import annotations

import polars as pl


def sp500_bars() -> pl.DataFrame:
    """The S&P 500 daily bars that ``arch`` ships (1999-2018); Close, not Adj Close, so returns match ranges."""
    from arch.data import sp500

    data = sp500.load()
    return pl.DataFrame(
        {
            "symbol": "SPX",
            "timestamp": data.index.to_numpy(),
            **{
                name.lower(): data[name].to_numpy(dtype=float)
                for name in ("Open", "High", "Low", "Close", "Volume")
            },
        }
    ).with_columns(pl.col("timestamp").cast(pl.Datetime("us")).dt.replace_time_zone("UTC"))
