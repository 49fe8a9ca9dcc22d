"""Command-line arguments and serving shared by the Lona and Live Engine stand-ins.

Both stand-ins simulate the same market and run under uvicorn the same way;
only their credentials and tick options differ, which each adds to this parser itself.
"""

from __future__ import annotations

import argparse
import logging

import uvicorn
from fastapi import FastAPI

from nexus_assets.sim.market import DEFAULT_SYMBOLS


def symbol_list(text: str) -> tuple[str, ...]:
    """``AAPL,MSFT`` as a tuple; an empty list is refused with the argument's name."""
    symbols = tuple(s.strip() for s in text.split(",") if s.strip())
    if not symbols:
        raise argparse.ArgumentTypeError("give at least one symbol name, comma-separated")
    return symbols


def stand_in_parser(
    module: str, description: str, *, port: int, initial_bars: int, initial_bars_help: str
) -> argparse.ArgumentParser:
    """A parser with the market and server options every stand-in takes."""
    parser = argparse.ArgumentParser(prog=f"python -m {module}", description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=port)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--symbols", type=symbol_list, default=DEFAULT_SYMBOLS, help="comma-separated symbol names"
    )
    parser.add_argument("--initial-bars", type=int, default=initial_bars, help=initial_bars_help)
    parser.add_argument("--log-level", default="warning")
    return parser


def serve(app: FastAPI, args: argparse.Namespace) -> None:
    """Run ``app`` in the foreground on the parsed host and port (no access log: tests drive thousands of calls)."""
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, access_log=False)


def configure_logging(args: argparse.Namespace) -> None:
    logging.basicConfig(level=args.log_level.upper())
