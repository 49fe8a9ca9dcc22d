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


FAST = ("--warmup", "300", "--cost-bps", "5", "--epochs", "1")


@pytest.fixture(scope="module")
def baseline(prices_csv, tmp_path_factory) -> tuple[subprocess.CompletedProcess[str], Path]:
    out = tmp_path_factory.mktemp("baseline") / "weights.csv"
    return _run("--prices", str(prices_csv), "--out", str(out), *FAST), out


def test_weights_for_every_date_after_the_warm_up_and_metrics_as_json(prices_csv, baseline):
    done, out = baseline
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
    assert {"policy", "meta_labeled", "equal_weight"} <= set(report["metrics"])
    assert set(report["metrics"]["policy"]) >= {
        "sharpe",
        "sortino",
        "max_drawdown",
        "annual_turnover",
        "hit_rate",
    }
    assert set(report["meta_labeling"]) == {"labels", "paid_share", "retrains_fitted", "entry_signals_sized"}


def test_changing_prices_after_a_date_leaves_earlier_weights_alone(prices_csv, baseline, tmp_path):
    original = pl.read_csv(prices_csv)
    changed = original.with_columns(
        pl.when(pl.int_range(pl.len()) > 350).then(pl.col(s) * 1.7).otherwise(pl.col(s)).alias(s)
        for s in SYMBOLS
    )
    changed_csv = tmp_path / "changed.csv"
    changed.write_csv(changed_csv)
    b = tmp_path / "b.csv"
    assert _run("--prices", str(changed_csv), "--out", str(b), *FAST).returncode == 0
    before, after = pl.read_csv(baseline[1]), pl.read_csv(b)
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


def test_three_assets_with_a_25_percent_cap_are_invested_where_signals_stand(tmp_path):
    """The old fully invested rule sat in cash for years on 3 x 25%; the served path sizes each signal."""
    three = _wide(tmp_path / "three.csv", ("AAA", "BBB", "CCC"))
    out = tmp_path / "o.csv"
    done = _run("--prices", str(three), "--out", str(out), *FAST)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    gross = np.abs(pl.read_csv(out).select("AAA", "BBB", "CCC").to_numpy()).sum(axis=1)
    assert (gross > 0).mean() > 0.5 and (gross <= 1.0 + 1e-9).all()
    assert "SOLVER_FALLBACK" not in report["reason_counts"]
    assert report["signals"]["source"] == "reference strategies" and report["signals"]["count"] > 0
    assert set(report["metrics"]) >= {"policy", "raw", "volatility_targeted", "no_predictor", "no_optimizer"}
    assert report["closes_only"] and "closes only" in done.stderr
    assert report["retrains"]["count"] == 1


def test_a_signal_file_drives_the_replay_and_a_bad_one_names_its_row(tmp_path):
    three = _wide(tmp_path / "three.csv", ("AAA", "BBB", "CCC"))
    dates = pl.read_csv(three)["date"]
    signals = tmp_path / "signals.csv"
    signals.write_text(f"timestamp,symbol,strategy_id,side,strength\n{dates[310]},BBB,mine,buy,1\n")
    out = tmp_path / "o.csv"
    done = _run("--prices", str(three), "--signals", str(signals), "--out", str(out), *FAST)
    assert done.returncode == 0, done.stderr
    weights = pl.read_csv(out)
    assert (weights["AAA"] == 0).all() and (weights["CCC"] == 0).all()
    assert (weights["BBB"].head(10) == 0).all() and (weights["BBB"].slice(10, 60) > 0).mean() > 0.9
    signals.write_text(f"timestamp,symbol,strategy_id,side,strength\n{dates[310]},BBB,mine,long,1\n")
    bad = _run("--prices", str(three), "--signals", str(signals), "--out", str(out), "--warmup", "300")
    assert bad.returncode == 2
    assert f"{signals}, row 2, column 'side'" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
