"""`nexus forecast-volatility`: walk-forward next-bar variance forecasts for one symbol's bars file.

The output row for a date is the forecast made at that bar's close from bars up to and
including it, of the next bar's squared log return (decimal units); it is what the model would
have said live. Rows start at the warm-up and run to the last bar. A file holding several
symbols is refused (the output has no symbol column): split it, one file per symbol.
Bad input exits with status 2 and one line on stderr; a failed fit exits with status 1.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import polars as pl

from nexus_assets.marketdata.files import SUFFIXES, read_bars_file
from nexus_assets.ml.bars import BarsValidationError
from nexus_assets.ml.volatility.model import VolatilityFitError
from nexus_assets.ml.volatility.walkforward import (
    QlikeSummary,
    WalkForwardResult,
    Window,
    check_options,
    walk_forward,
)
from nexus_assets.progress import progress_bar

OUTPUT_COLUMNS: tuple[str, str] = ("date", "variance")
_PROG = "nexus forecast-volatility"


def read_one_symbol(path: Path) -> pl.DataFrame:
    """Bars of the single symbol in ``path``; errors name the file, row and column."""
    source = str(path)
    if not path.is_file():
        raise BarsValidationError("no such file", source=source)
    if path.suffix.lower() not in SUFFIXES:
        raise BarsValidationError(f"expected a {', '.join(SUFFIXES)} file", source=source)
    bars = read_bars_file(path)
    symbols = bars["symbol"].unique().sort().to_list()
    if len(symbols) > 1:
        shown = ", ".join(symbols[:5]) + (", ..." if len(symbols) > 5 else "")
        raise BarsValidationError(
            f"{len(symbols)} symbols ({shown}); forecast-volatility reads one symbol per file",
            source=source,
            column="symbol",
        )
    return bars


def format_dates(timestamps: pl.Series) -> pl.Series:
    """ISO dates when every bar is at midnight (daily files), ISO timestamps otherwise."""
    at_midnight = bool((timestamps.dt.truncate("1d") == timestamps).all())
    pattern = "%Y-%m-%d" if at_midnight else "%Y-%m-%dT%H:%M:%S%.f%:z"
    return timestamps.dt.to_string(pattern)


def write_forecasts(result: WalkForwardResult, out: Path) -> pl.DataFrame:
    """Write ``date,variance`` (the model's forecasts) to ``out`` and return the written table."""
    table = pl.DataFrame(
        {
            OUTPUT_COLUMNS[0]: format_dates(result.forecasts["timestamp"]),
            OUTPUT_COLUMNS[1]: result.forecasts["model_variance"],
        }
    )
    table.write_csv(out)
    return table


def forecast_volatility(
    bars_path: Path,
    out_path: Path,
    *,
    warmup: int,
    refit_every: int,
    window: Window,
    progress: Callable[[int, int], None] | None = None,
) -> WalkForwardResult:
    """Read, walk forward, write: the whole command without its printing and exit codes."""
    check_options(warmup, refit_every, window)
    if not out_path.parent.is_dir():
        raise ValueError(f"--out: folder {out_path.parent} does not exist")
    bars = read_one_symbol(bars_path)
    try:
        result = walk_forward(bars, warmup=warmup, refit_every=refit_every, window=window, progress=progress)
    except BarsValidationError:
        raise
    except ValueError as error:
        raise ValueError(f"{bars_path}: {error}") from error
    write_forecasts(result, out_path)
    return result


def summary_lines(summary: QlikeSummary) -> list[str]:
    """The QLIKE table printed on stdout."""
    lines = [f"QLIKE over {summary.n_origins} origins with a known next return (lower is better):"]
    for label, value in (
        ("model", summary.model),
        ("GARCH(1,1)", summary.garch),
        ("EWMA(0.94)", summary.ewma),
    ):
        lines.append(f"  {label:<11} {value:.5f}")
    return lines


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split())


def run(args: argparse.Namespace) -> int:
    """Handler of the subcommand: 0 on success, 2 for bad input, 1 when the model fit fails."""
    try:
        with progress_bar("fits", "fit") as progress:
            result = forecast_volatility(
                Path(args.bars),
                Path(args.out),
                warmup=args.warmup,
                refit_every=args.refit_every,
                window=args.window,
                progress=progress,
            )
    except VolatilityFitError as error:
        print(f"{_PROG}: error: {_one_line(error)}", file=sys.stderr)
        return 1
    except (ValueError, OSError) as error:
        print(f"{_PROG}: error: {_one_line(error)}", file=sys.stderr)
        return 2
    for line in summary_lines(result.summary):
        print(line)
    print(f"wrote {result.forecasts.height} forecasts to {args.out}")
    return 0
