"""`nexus backtest`: replay the decision policy on a wide price file and write its target weights.

Output rows: for every bar from the warm-up on, the weights decided at that bar's close from
prices up to and including it, held over the next bar (no leverage by default: gross <= 1).
Metrics of the policy and the baselines go to stdout as JSON. Bad input exits with status 2 and
one line on stderr naming the file, row and column.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import orjson
import polars as pl

from nexus_assets.marketdata.wide import read_price_table
from nexus_assets.progress import progress_bar

if TYPE_CHECKING:
    from nexus_assets.ml.backtest.replay import BacktestConfig, BacktestResult

_PROG = "nexus backtest"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--prices", required=True, help="CSV or Parquet: date plus one close column per symbol"
    )
    parser.add_argument("--out", required=True, help="CSV to write: date,<symbol>... target weights")
    parser.add_argument(
        "--cost-bps", type=float, default=5.0, help="cost per unit of turnover, in bps (default 5)"
    )
    parser.add_argument("--rebalance-every", type=int, default=5, help="bars between rebalances (default 5)")
    parser.add_argument("--target-volatility", type=float, default=0.10, help="annualised (default 0.10)")
    parser.add_argument(
        "--max-weight", type=float, default=0.25, help="largest weight per symbol (default 0.25)"
    )
    parser.add_argument(
        "--warmup", type=int, default=504, help="bars before the first decision (default 504)"
    )


def _config(args: argparse.Namespace) -> BacktestConfig:
    from nexus_assets.ml.backtest.replay import BacktestConfig

    return replace(
        BacktestConfig(),
        cost_bps=args.cost_bps,
        rebalance_every=args.rebalance_every,
        target_volatility=args.target_volatility,
        max_weight=args.max_weight,
        warmup=args.warmup,
    )


def weights_table(result: BacktestResult, timestamps: pl.Series) -> pl.DataFrame:
    dates = timestamps.gather(result.decision_bars)
    at_midnight = bool((dates.dt.truncate("1d") == dates).all())
    labels = dates.dt.to_string("%Y-%m-%d" if at_midnight else "%Y-%m-%dT%H:%M:%S%:z")
    return pl.DataFrame({"date": labels}).with_columns(
        pl.Series(symbol, result.weights[:, i]) for i, symbol in enumerate(result.symbols)
    )


def run(args: argparse.Namespace) -> int:
    # The optimizer stack (cvxpy) loads only when a backtest actually runs.
    from nexus_assets.ml.backtest.replay import run_backtest

    try:
        config = _config(args)
        out = Path(args.out)
        if not out.parent.is_dir():
            raise ValueError(f"--out: folder {out.parent} does not exist")
        table = read_price_table(Path(args.prices))
        with progress_bar("bars", "bar") as progress:
            result = run_backtest(table.prices, table.symbols, config, progress)
    except (ValueError, OSError) as error:
        print(f"{_PROG}: error: {' '.join(str(error).split())}", file=sys.stderr)
        return 2
    weights_table(result, table.timestamps).write_csv(out)
    report = {
        "metrics": result.metrics,
        "reason_counts": result.reason_counts,
        "rows_written": len(result.weights),
        "warnings": result.warnings,
    }
    for warning in result.warnings:
        print(f"{_PROG}: warning: {warning}", file=sys.stderr)
    sys.stdout.write(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode() + "\n")
    return 0
