"""`nexus publish`: send one allocation to the Live Engine through the order ledger, exactly once.

``--weights`` is a CSV of ``symbol,target_weight,price`` (the prices the weights were computed
with); ``--allocation-id`` names the allocation, and publishing the same id again places
nothing. The engine is ``LIVE_ENGINE_URL`` with ``LIVE_ENGINE_API_KEY`` (or
``LIVE_ENGINE_SERVICE_API_KEY``), the ledger ``NEXUS_LEDGER_DATABASE_URL`` (default: SQLite under
``NEXUS_HOME``). The same code publishes the `live_engine_orders` asset (``book.publish_to_book``).

Exit status: 0 when the engine holds exactly the intended orders; 1 when it does not (the
reasons on stderr: a rejected order, an order the ledger did not send, one the engine lost);
2 for bad input or configuration; 3 when the engine could not be reached or read, or the
publish stopped after an order may have reached it (run it again: the ledger settles it).
A JSON report goes to stdout.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import sys
from pathlib import Path
from typing import Any

import orjson

_PROG = "nexus publish"
COLUMNS = ("symbol", "target_weight", "price")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--weights", required=True, help="CSV: symbol,target_weight,price")
    parser.add_argument("--allocation-id", required=True, help="the allocation's id; a repeat places nothing")
    parser.add_argument(
        "--equity", type=float, help="size the orders on this equity (default: the portfolio's total value)"
    )
    parser.add_argument(
        "--strategy-id", default="trade-nexus", help="our deployment's strategy (default trade-nexus)"
    )
    parser.add_argument(
        "--mode", choices=("paper", "live"), default="paper", help="deployment mode (default paper)"
    )
    parser.add_argument(
        "--capital", type=float, default=1_000_000.0, help="capital of the deployment if one is created"
    )
    parser.add_argument(
        "--portfolio-id",
        help="the engine's portfolio to trade (default LIVE_ENGINE_PORTFOLIO_ID, else the only one in --mode)",
    )


def read_weights(path: Path) -> tuple[dict[str, float], dict[str, float]]:
    """``(weights, prices)`` by symbol; any bad cell is an error naming its line and column."""
    if not path.is_file():
        raise ValueError(f"--weights: {path} is not a file")
    weights: dict[str, float] = {}
    prices: dict[str, float] = {}
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        header = [name.strip() for name in reader.fieldnames or ()]
        missing = [c for c in COLUMNS if c not in header]
        if missing:
            raise ValueError(f"{path}: missing column {', '.join(missing)} (expected {','.join(COLUMNS)})")
        reader.fieldnames = header
        for line, row in enumerate(reader, start=2):
            symbol = (row.get("symbol") or "").strip()
            if not symbol:
                raise ValueError(f"{path} line {line}, symbol: is empty")
            if symbol in weights:
                raise ValueError(f"{path} line {line}, symbol: {symbol!r} is listed twice")
            weights[symbol] = _number(path, line, "target_weight", row.get("target_weight"))
            price = _number(path, line, "price", row.get("price"))
            if price <= 0:
                raise ValueError(f"{path} line {line}, price: must be greater than 0, got {price!r}")
            prices[symbol] = price
    if not weights:
        raise ValueError(f"{path}: no rows")
    return weights, prices


def _number(path: Path, line: int, column: str, text: str | None) -> float:
    try:
        value = float((text or "").strip())
    except ValueError:
        raise ValueError(f"{path} line {line}, {column}: not a number: {text!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"{path} line {line}, {column}: must be finite, got {text!r}")
    return value


def _report(report: Any) -> dict[str, Any]:
    settled = report.reconciliation
    return {
        "allocation_id": report.allocation_id,
        "deployment_id": report.deployment_id,
        "portfolio_id": report.portfolio_id,
        "equity": report.equity,
        "exact": report.exact,
        "placed": [o.id for o in report.placed],
        "orders": [
            {
                "id": o.id,
                "client_key": report.client_keys[o.id],
                "symbol": o.symbol,
                "side": o.side,
                "quantity": o.quantity,
                "status": o.status,
            }
            for o in report.orders
        ],
        "cancelled": [o.id for o in report.cancelled],
        "adopted": [order.id for _, order in settled.adopted],
        "unsent": [i.client_key for i in settled.unsent],
        "lost": [i.client_key for i in settled.lost],
        "rejected": [{"symbol": s, "message": m} for s, m in report.rejected],
        "problems": list(report.problems),
        "divergences": [d.describe() for d in report.divergences],
    }


def run(args: argparse.Namespace) -> int:
    from nexus_assets.live_engine import (
        LedgerBusyError,
        LiveEngineClient,
        LiveEngineConfigError,
        LiveEngineError,
        OrderLedger,
    )
    from nexus_assets.live_engine.book import publish_to_book
    from nexus_assets.live_engine.reconcile import InFlightError

    try:
        if args.equity is not None and not (math.isfinite(args.equity) and args.equity > 0):
            raise ValueError(f"--equity: must be a finite number greater than 0, got {args.equity!r}")
        if not args.allocation_id.strip():
            raise ValueError("--allocation-id: must not be empty")
        weights, prices = read_weights(Path(args.weights))
        client = LiveEngineClient.from_env()
        ledger = OrderLedger.from_env()
    except (ValueError, OSError) as error:
        print(f"{_PROG}: error: {error}", file=sys.stderr)
        return 2
    try:
        with client:
            report = publish_to_book(
                client,
                ledger,
                weights,
                prices=prices,
                allocation_id=args.allocation_id.strip(),
                strategy_id=args.strategy_id,
                mode=args.mode,
                capital=args.capital,
                portfolio_id=args.portfolio_id or os.environ.get("LIVE_ENGINE_PORTFOLIO_ID") or None,
                equity=args.equity,
            )
    except (LiveEngineConfigError, ValueError) as error:
        print(f"{_PROG}: error: {error}", file=sys.stderr)
        return 2
    except (LiveEngineError, InFlightError, LedgerBusyError) as error:
        print(f"{_PROG}: error: {error}", file=sys.stderr)
        return 3
    finally:
        ledger.close()
    sys.stdout.write(orjson.dumps(_report(report), option=orjson.OPT_INDENT_2).decode() + "\n")
    for problem in report.problems:
        print(f"{_PROG}: {problem}", file=sys.stderr)
    for divergence in report.divergences:
        print(f"{_PROG}: warning: diverges from the target: {divergence.describe()}", file=sys.stderr)
    return 0 if report.exact else 1
