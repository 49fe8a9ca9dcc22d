"""`nexus backtest`: replay the served decision path walk-forward and write the policy's weights.

``--prices`` is a wide close file (date plus one close column per symbol) or a long OHLCV table;
``--signals`` a signal file (``timestamp, symbol, strategy_id, side, strength``), or, without
it, the reference strategies' signals computed from the prices. Output rows: for every bar from
the warm-up on, the weights the policy held at that bar's close, decided from data up to and
including it (no leverage by default: gross <= 1). The report (every row, ablations included,
decisions by action and reason, the retrains) goes to stdout as JSON. Bad input exits with
status 2 and one line on stderr naming the file, row and column or the option.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import polars as pl

from nexus_assets.progress import progress_bar

if TYPE_CHECKING:
    from nexus_assets.ml.replay.config import ReplayConfig
    from nexus_assets.ml.replay.loop import ReplayResult

_PROG = "nexus backtest"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--prices",
        required=True,
        help="CSV or Parquet: date plus one close column per symbol, or a long OHLCV table "
        "(symbol, timestamp, open, high, low, close[, volume])",
    )
    parser.add_argument(
        "--signals",
        help="CSV or Parquet: timestamp, symbol, strategy_id, side (buy|sell|flat), strength "
        "(default: the reference strategies' signals from the prices)",
    )
    parser.add_argument("--out", required=True, help="CSV to write: date,<symbol>... the policy's weights")
    parser.add_argument(
        "--cost-bps", type=float, default=5.0, help="cost per unit of turnover, in bps (default 5)"
    )
    parser.add_argument(
        "--rebalance-every",
        type=int,
        default=5,
        help="bars between rebalances without a new signal (default 5)",
    )
    parser.add_argument("--target-volatility", type=float, default=0.10, help="annualised (default 0.10)")
    parser.add_argument(
        "--max-weight", type=float, default=0.25, help="largest weight per symbol (default 0.25)"
    )
    parser.add_argument(
        "--warmup", type=int, default=504, help="bars before the first decision (default 504)"
    )
    parser.add_argument(
        "--retrain-every",
        type=int,
        default=252,
        help="bars between two retrains of the champions (default 252)",
    )
    parser.add_argument(
        "--train-bars", type=int, default=1260, help="trailing bars each retrain fits on (default 1260)"
    )
    parser.add_argument("--epochs", type=int, default=10, help="most LSTM epochs per retrain (default 10)")


def _config(args: argparse.Namespace) -> ReplayConfig:
    from nexus_assets.ml.replay import ReplayConfig, RetrainConfig

    base = RetrainConfig()
    return ReplayConfig(
        cost_bps=args.cost_bps,
        rebalance_every=args.rebalance_every,
        target_volatility=args.target_volatility,
        max_weight=args.max_weight,
        warmup=args.warmup,
        retrain=RetrainConfig(
            retrain_every=args.retrain_every,
            train_bars=args.train_bars,
            lstm=replace(base.lstm, max_epochs=_at_least_one(args.epochs, "--epochs")),
        ),
    )


def _at_least_one(value: int, option: str) -> int:
    if value < 1:
        raise ValueError(f"{option}: must be at least 1, got {value}")
    return value


def weights_table(result: ReplayResult) -> pl.DataFrame:
    dates = result.timestamps
    at_midnight = bool((dates.dt.truncate("1d") == dates).all())
    labels = dates.dt.to_string("%Y-%m-%d" if at_midnight else "%Y-%m-%dT%H:%M:%S%:z")
    return pl.DataFrame({"date": labels}).with_columns(
        pl.Series(symbol, result.weights[:, i]) for i, symbol in enumerate(result.symbols)
    )


def report(result: ReplayResult, signal_source: str, signal_count: int) -> dict[str, Any]:
    seconds = [r.seconds for r in result.retrains]
    return {
        "metrics": result.metrics,
        "decisions_by_action": result.actions,
        "decisions_by_reason": result.reasons,
        "optimizer": result.optimizer,
        "drawdown_resets": result.drawdown_resets,
        "meta_labeling": {
            "labels": result.meta.labels,
            "paid_share": result.meta.paid,
            "retrains_fitted": result.meta.fitted,
            "entry_signals_sized": len(result.meta.scale),
        },
        "decision_bars": result.decision_bars,
        "rows_written": len(result.weights),
        "signals": {"source": signal_source, "count": signal_count},
        "closes_only": result.closes_only,
        "retrains": {
            "count": len(seconds),
            "seconds_total": sum(seconds),
            "seconds_mean": sum(seconds) / len(seconds) if seconds else 0.0,
            "trained_until": [r.trained_until for r in result.retrains],
        },
        "warnings": result.warnings,
        # Kept for readers of the earlier report.
        "reason_counts": result.reasons.get("policy", {}),
    }


def run(args: argparse.Namespace) -> int:
    from nexus_assets.ml.replay.prices import read_replay_prices
    from nexus_assets.ml.replay.signal_file import read_signal_file

    try:
        config = _config(args)
        out = Path(args.out)
        if not out.parent.is_dir():
            raise ValueError(f"--out: folder {out.parent} does not exist")
        data = read_replay_prices(Path(args.prices))
        config.check_history(data.close.shape[0])
        if args.signals:
            signals, source = read_signal_file(Path(args.signals), data.symbols), str(args.signals)
        else:
            from nexus_assets.sim.reference_signals import reference_signals

            signals, source = reference_signals(data.bars), "reference strategies"
        # The model stack (torch, cvxpy) loads only once the inputs are known to be good.
        from nexus_assets.ml.replay.loop import run_replay

        with progress_bar("bars", "bar") as progress:
            result = run_replay(data, signals, config, progress=progress)
    except (ValueError, OSError) as error:
        print(f"{_PROG}: error: {' '.join(str(error).split())}", file=sys.stderr)
        return 2
    weights_table(result).write_csv(out)
    for warning in result.warnings:
        print(f"{_PROG}: warning: {warning}", file=sys.stderr)
    body = report(result, source, signals.height)
    sys.stdout.write(
        orjson.dumps(body, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY).decode() + "\n"
    )
    return 0
