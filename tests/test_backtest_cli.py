"""`nexus backtest` as a user runs it: wide prices in, weights and metrics out, clear errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from nexus_assets.sim.market import MarketSimConfig, simulate_market

NEXUS = str(Path(sys.executable).parent / "nexus")
SYMBOLS = ("AAA", "BBB", "CCC", "DDD", "EEE")


@pytest.fixture(scope="module")
def prices_csv(tmp_path_factory) -> Path:
    bars = simulate_market(MarketSimConfig(symbols=SYMBOLS, n_bars=420, seed=9))
    wide = bars.pivot(on="symbol", index="timestamp", values="close").sort("timestamp")
    wide = wide.with_columns(pl.col("timestamp").dt.date().alias("date")).drop("timestamp")
    wide = wide.with_columns(
        pl.when(pl.int_range(pl.len()) < 30).then(None).otherwise(pl.col("EEE")).alias("EEE")
    )
    path = tmp_path_factory.mktemp("prices") / "prices.csv"
    wide.select("date", *SYMBOLS).write_csv(path)
    return path


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([NEXUS, "backtest", *args], capture_output=True, text=True, timeout=300)


def test_weights_for_every_date_after_the_warm_up_and_metrics_as_json(prices_csv, tmp_path):
    out = tmp_path / "weights.csv"
    done = _run("--prices", str(prices_csv), "--out", str(out), "--warmup", "300", "--cost-bps", "5")
    assert done.returncode == 0, done.stderr
    weights = pl.read_csv(out)
    assert weights.columns == ["date", *SYMBOLS]
    assert weights.height == 420 - 300
    dates = pl.read_csv(prices_csv)["date"]
    assert weights["date"].to_list() == dates[300:].to_list()
    values = weights.select(SYMBOLS).to_numpy()
    assert np.isfinite(values).all()
    assert (np.abs(values).sum(axis=1) <= 1.0 + 1e-9).all()
    report = json.loads(done.stdout)
    assert {"policy", "equal_weight"} <= set(report["metrics"])
    assert set(report["metrics"]["policy"]) >= {
        "sharpe",
        "sortino",
        "max_drawdown",
        "annual_turnover",
        "hit_rate",
    }


def test_changing_prices_after_a_date_leaves_earlier_weights_alone(prices_csv, tmp_path):
    original = pl.read_csv(prices_csv)
    changed = original.with_columns(
        pl.when(pl.int_range(pl.len()) > 350).then(pl.col(s) * 1.7).otherwise(pl.col(s)).alias(s)
        for s in SYMBOLS
    )
    changed_csv = tmp_path / "changed.csv"
    changed.write_csv(changed_csv)
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    assert _run("--prices", str(prices_csv), "--out", str(a), "--warmup", "300").returncode == 0
    assert _run("--prices", str(changed_csv), "--out", str(b), "--warmup", "300").returncode == 0
    before, after = pl.read_csv(a), pl.read_csv(b)
    assert before.head(51).equals(after.head(51))


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda text: text.replace("date,", "when,", 1), "missing required column: timestamp (or date)"),
        (lambda text: text.replace("\n", "\n2021-13-45,1,1,1,1,1\n", 1), "row 2, column 'timestamp'"),
        (lambda text: "\n".join(text.splitlines()[:50]), "the backtest needs more than"),
    ],
)
def test_bad_input_is_one_line_naming_the_problem(prices_csv, tmp_path, edit, message):
    bad = tmp_path / "bad.csv"
    bad.write_text(edit(prices_csv.read_text()))
    done = _run("--prices", str(bad), "--out", str(tmp_path / "o.csv"))
    assert done.returncode == 2
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.stderr


def test_negative_price_names_file_row_and_column(prices_csv, tmp_path):
    lines = prices_csv.read_text().splitlines()
    cells = lines[5].split(",")
    cells[2] = "-3.5"
    lines[5] = ",".join(cells)
    bad = tmp_path / "neg.csv"
    bad.write_text("\n".join(lines) + "\n")
    done = _run("--prices", str(bad), "--out", str(tmp_path / "o.csv"))
    assert done.returncode == 2
    assert f"{bad}, row 6, column 'BBB': price must be positive" in done.stderr


def _wide(path: Path, symbols: tuple[str, ...], listed_from: dict[str, int] | None = None) -> Path:
    bars = simulate_market(MarketSimConfig(symbols=symbols, n_bars=420, seed=11))
    wide = bars.pivot(on="symbol", index="timestamp", values="close").sort("timestamp")
    wide = wide.with_columns(pl.col("timestamp").dt.date().alias("date")).drop("timestamp")
    for symbol, first in (listed_from or {}).items():
        wide = wide.with_columns(
            pl.when(pl.int_range(pl.len()) < first).then(None).otherwise(pl.col(symbol)).alias(symbol)
        )
    wide.select("date", *symbols).write_csv(path)
    return path


def test_limits_that_cannot_be_fully_invested_exit_2_naming_the_option(tmp_path):
    three = _wide(tmp_path / "three.csv", ("AAA", "BBB", "CCC"))
    done = _run("--prices", str(three), "--out", str(tmp_path / "o.csv"), "--warmup", "300")
    assert done.returncode == 2
    assert "--max-weight" in done.stderr and "0.75" in done.stderr and "0.334" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    wider = _run(
        "--prices", str(three), "--out", str(tmp_path / "w.csv"), "--warmup", "300", "--max-weight", "0.4"
    )
    assert wider.returncode == 0, wider.stderr
    gross = pl.read_csv(tmp_path / "w.csv").select("AAA", "BBB", "CCC").to_numpy().sum(axis=1)
    assert (gross > 0).mean() > 0.9, "invested (the risk gate may hold cash on a few bars, never the limits)"


def test_too_few_symbols_trading_yet_is_as_invested_as_the_cap_allows_and_says_so(tmp_path):
    """DDD has too little history until bar 352: 3 x 25% can be held, not 100%, and not cash."""
    four = _wide(tmp_path / "four.csv", ("AAA", "BBB", "CCC", "DDD"), {"DDD": 100})
    out = tmp_path / "o.csv"
    done = _run("--prices", str(four), "--out", str(out), "--warmup", "300")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["warnings"] and "fewer than 1 / max_weight symbols trading" in report["warnings"][0]
    assert "warning:" in done.stderr
    early = pl.read_csv(out).head(50).select("AAA", "BBB", "CCC", "DDD").to_numpy()
    assert (early[:, :3].sum(axis=1) > 0).mean() > 0.8, "invested, not in cash"
    assert (early[:, 3] == 0).all() and (early <= 0.25 + 1e-9).all()
    assert "SOLVER_FALLBACK" not in report["reason_counts"]
