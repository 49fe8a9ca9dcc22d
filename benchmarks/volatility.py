"""Volatility forecaster against GARCH(1,1) and EWMA(0.94): out-of-sample QLIKE on the same origins.

Data: arch's S&P 500 daily bars (1999-2018) and the simulated market. For each it prints the
mean QLIKE of the model, GARCH(1,1) and EWMA on identical origins (lower is better) and the
wall time of the walk-forward as `nexus forecast-volatility` runs it (read file, walk forward,
write CSV); the simulated market is also run pooled over all its symbols.
The S&P 500 warm-up (1000 bars) matches the prototype's origins; the simulated market has 1260
bars per symbol, so it warms up on 500.
Run: `.venv/bin/python benchmarks/volatility.py [--sp500-warmup 1000 --sim-warmup 500 --window rolling]`.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import polars as pl

from nexus_assets.marketdata.reference import sp500_bars
from nexus_assets.ml.volatility.walkforward import WalkForwardResult, walk_forward
from nexus_assets.sim.market import MarketSimConfig, simulate_market
from nexus_assets.volatility_cli import forecast_volatility


def cli_run(
    bars: pl.DataFrame, folder: Path, warmup: int, args: argparse.Namespace
) -> tuple[WalkForwardResult, float]:
    """The CLI's whole path on a single-symbol CSV, timed."""
    path = folder / f"{bars['symbol'][0]}.csv"
    bars.drop("symbol").write_csv(path)
    start = time.perf_counter()
    result = forecast_volatility(
        path, folder / "out.csv", warmup=warmup, refit_every=args.refit_every, window=args.window
    )
    return result, time.perf_counter() - start


def row(label: str, result: WalkForwardResult, seconds: float) -> str:
    s = result.summary
    return (
        f"{label:<28} {s.n_origins:>7} {s.model:>9.5f} {s.garch:>11.5f} {s.ewma:>11.5f} "
        f"{s.model - s.garch:>+9.5f} {result.n_refits:>6} {seconds:>7.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sp500-warmup", type=int, default=1000)
    parser.add_argument("--sim-warmup", type=int, default=500)
    parser.add_argument("--refit-every", type=int, default=21)
    parser.add_argument("--window", choices=("expanding", "rolling"), default="expanding")
    args = parser.parse_args()

    print(
        f"walk-forward: refit every {args.refit_every} bars, {args.window} window, "
        f"warm-up {args.sp500_warmup} bars (sp500) / {args.sim_warmup} (simulator)"
    )
    print(
        f"{'data':<28} {'origins':>7} {'model':>9} {'GARCH(1,1)':>11} {'EWMA(0.94)':>11} "
        f"{'vs GARCH':>9} {'refits':>6} {'wall s':>7}"
    )
    simulated = simulate_market(MarketSimConfig())
    with tempfile.TemporaryDirectory() as folder:
        print(row("sp500 (arch), CLI", *cli_run(sp500_bars(), Path(folder), args.sp500_warmup, args)))
        for symbol in simulated["symbol"].unique().sort():
            one = simulated.filter(pl.col("symbol") == symbol)
            print(row(f"simulator {symbol}, CLI", *cli_run(one, Path(folder), args.sim_warmup, args)))
    start = time.perf_counter()
    pooled = walk_forward(simulated, warmup=args.sim_warmup, refit_every=args.refit_every, window=args.window)
    label = f"simulator pooled {simulated['symbol'].n_unique()}x{simulated.height // simulated['symbol'].n_unique()}"
    print(row(label, pooled, time.perf_counter() - start))
    print("QLIKE: mean(log h + r^2 / h) over origins whose next return is known; lower is better.")


if __name__ == "__main__":
    main()
