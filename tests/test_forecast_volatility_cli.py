"""`nexus forecast-volatility`: no look-ahead, the exact output shape, and one-line errors with exit code 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from nexus_assets.cli import build_parser, main
from nexus_assets.ml.volatility.walkforward import DEFAULT_REFIT_EVERY, DEFAULT_WARMUP
from nexus_assets.sim.market import MarketSimConfig, simulate_market

N_BARS, WARMUP = 300, 150
PRICES = ("open", "high", "low", "close")


@pytest.fixture(scope="module")
def simulated() -> pl.DataFrame:
    return simulate_market(MarketSimConfig(symbols=("AAA",), n_bars=N_BARS, seed=4))


def _daily_csv(bars: pl.DataFrame, path: Path) -> Path:
    """A user's daily file: a `date` column of plain dates, no symbol column."""
    bars.select(pl.col("timestamp").dt.date().alias("date"), *PRICES, "volume").write_csv(path)
    return path


def _run(bars_path: Path, out: Path, *extra: str) -> int:
    return main(
        ["forecast-volatility", "--bars", str(bars_path), "--out", str(out), "--warmup", str(WARMUP), *extra]
    )


def test_forecasts_ignore_every_bar_after_their_date(simulated, tmp_path):
    """Rescale prices and add a jump after T: forecasts at or before T are unchanged, later ones differ."""
    cut = simulated["timestamp"][WARMUP + 40]  # between two refits
    later = pl.col("timestamp") > cut
    changed = simulated.with_columns(
        pl.when(later).then(pl.col(c) * 2.5).otherwise(pl.col(c)) for c in PRICES
    ).with_columns(
        pl.when(pl.col("timestamp") == simulated["timestamp"][WARMUP + 60])
        .then(pl.col(c) * 0.8)
        .otherwise(pl.col(c))
        for c in ("low", "close")
    )
    assert _run(_daily_csv(simulated, tmp_path / "a.csv"), tmp_path / "a_out.csv") == 0
    assert _run(_daily_csv(changed, tmp_path / "b.csv"), tmp_path / "b_out.csv") == 0
    original = pl.read_csv(tmp_path / "a_out.csv", infer_schema=False)
    altered = pl.read_csv(tmp_path / "b_out.csv", infer_schema=False)
    cut_date = cut.date().isoformat()
    assert original["date"].equals(altered["date"])
    before = original["date"] <= cut_date
    assert altered.filter(before).equals(original.filter(before))  # exactly: same text, same digits
    assert (altered.filter(~before)["variance"] != original.filter(~before)["variance"]).all()


def test_output_is_date_and_variance_for_every_bar_after_the_warmup(simulated, tmp_path, capsys):
    assert _run(_daily_csv(simulated, tmp_path / "AAA.csv"), tmp_path / "out.csv") == 0
    written = pl.read_csv(tmp_path / "out.csv")
    assert written.columns == ["date", "variance"]
    expected_dates = simulated["timestamp"].dt.date().dt.to_string("%Y-%m-%d")[WARMUP:]
    assert written["date"].cast(pl.String).to_list() == expected_dates.to_list()  # the last date included
    assert (written["variance"] > 0).all()
    stdout = capsys.readouterr().out
    assert f"QLIKE over {N_BARS - WARMUP - 1} origins" in stdout
    for label in ("model", "GARCH(1,1)", "EWMA(0.94)"):
        assert label in stdout


def test_intraday_parquet_keeps_timestamps(simulated, tmp_path):
    simulated.select("timestamp", *PRICES).write_parquet(tmp_path / "AAA.parquet")
    extra = ("--window", "rolling", "--refit-every", "50")
    assert _run(tmp_path / "AAA.parquet", tmp_path / "o.csv", *extra) == 0
    written = pl.read_csv(tmp_path / "o.csv", infer_schema=False)
    assert written["date"][0] == simulated["timestamp"][WARMUP].strftime("%Y-%m-%dT%H:%M:%S+00:00")
    assert written.height == N_BARS - WARMUP


def test_parser_defaults_are_the_library_defaults():
    args = build_parser().parse_args(["forecast-volatility", "--bars", "a.csv", "--out", "b.csv"])
    assert (args.warmup, args.refit_every, args.window) == (DEFAULT_WARMUP, DEFAULT_REFIT_EVERY, "expanding")


GOOD_ROW = "{d},10,10.5,9.5,10.2,100"


def _csv(tmp_path: Path, rows: int = 200, **bad: str) -> Path:
    """A daily CSV with ``rows`` bars; ``bad`` maps a CSV line number (as text, e.g. '5') to its replacement."""
    lines = ["date,open,high,low,close,volume"]
    for i in range(rows):
        day = f"2024-{1 + i // 28:02d}-{1 + i % 28:02d}"
        lines.append(
            bad.get(str(i + 2), GOOD_ROW.format(d=day).replace("10.2", f"{10 + (i % 7) * 0.05:.2f}"))
        )
    path = tmp_path / "bars.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def _without_close(path: Path) -> Path:
    pl.read_csv(path).drop("close").write_csv(path)
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "missing.csv", "missing.csv: no such file"),
        (lambda p: _without_close(_csv(p)), "column 'close': missing required column(s): close"),
        (
            lambda p: _csv(p, **{"7": "not-a-date,10,10.5,9.5,10.2,100"}),
            "row 7, column 'timestamp': cannot parse",
        ),
        (
            lambda p: _csv(p, **{"9": "2024-01-08,10,10.5,9.5,-1,100"}),
            "row 9, column 'close': price must be positive",
        ),
        (
            lambda p: _csv(p, **{"4": "2024-01-03,10,9,9.5,9.6,100"}),
            "row 4, column 'high': high is below low",
        ),
        (lambda p: _csv(p, rows=120), "has 120 bars, walk-forward with warmup=150 needs at least 151"),
    ],
    ids=["missing-file", "missing-column", "bad-date", "negative-price", "high-below-low", "too-few-bars"],
)
def test_bad_input_exits_2_with_one_line(tmp_path, capsys, make, message):
    assert _run(make(tmp_path), tmp_path / "out.csv") == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert captured.err.startswith("nexus forecast-volatility: error: ")
    assert message in captured.err
    assert not (tmp_path / "out.csv").exists()


def test_several_symbols_in_one_file_are_refused(tmp_path, capsys):
    simulate_market(MarketSimConfig(symbols=("AAA", "BBB"), n_bars=200)).write_csv(tmp_path / "both.csv")
    assert _run(tmp_path / "both.csv", tmp_path / "out.csv") == 2
    assert "column 'symbol': 2 symbols (AAA, BBB); forecast-volatility reads one symbol per file" in (
        capsys.readouterr().err
    )


def test_command_line_error_has_no_traceback(tmp_path):
    bars = _csv(tmp_path, **{"5": "2024-01-04,10,10.5,9.5,0,100"})
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "nexus_assets.cli",
            "forecast-volatility",
            "--bars",
            str(bars),
            "--out",
            str(tmp_path / "out.csv"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 2
    assert completed.stderr.strip().splitlines() == [
        f"nexus forecast-volatility: error: {bars}, row 5, column 'close': price must be positive"
    ]
