"""Signals for the replay: a user's file, checked row by row, or the reference strategies' own."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from nexus_assets.ml.replay import read_signal_file, replay_bars
from nexus_assets.ml.replay.signal_file import SignalFileError
from nexus_assets.sim.market import MarketSimConfig, simulate_market
from nexus_assets.sim.reference_signals import reference_signals
from nexus_assets.sim.strategies import TEMPLATES, positions

GOOD = "timestamp,symbol,strategy_id,side,strength\n2021-03-01,AAA,s1,buy,0.8\n2021-03-02,BBB,s2,Flat,0\n"


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "signals.csv"
    path.write_text(text)
    return path


def test_a_good_file_is_read_sorted_with_sides_normalized(tmp_path):
    signals = read_signal_file(_file(tmp_path, GOOD), ["AAA", "BBB"])
    assert signals["side"].to_list() == ["buy", "flat"]
    assert signals["strength"].to_list() == [0.8, 0.0]
    assert signals.schema["timestamp"] == pl.Datetime("us", "UTC")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace("strategy_id,", "strategy,"), "column 'strategy_id': missing required column"),
        (lambda t: t.replace("buy", "long"), "row 2, column 'side': side 'long' is not buy, sell or flat"),
        (lambda t: t.replace("0.8", "1.5"), "row 2, column 'strength': strength must be a number in [0, 1]"),
        (lambda t: t.replace("0.8", "strong"), "row 2, column 'strength'"),
        (lambda t: t.replace("BBB", "ZZZ"), "row 3, column 'symbol': symbol 'ZZZ' has no prices in --prices"),
        (lambda t: t.replace("2021-03-02", "yesterday"), "row 3, column 'timestamp'"),
        (lambda t: t.replace(",s2,", ",,"), "row 3, column 'strategy_id': value is missing"),
    ],
)
def test_bad_rows_are_named_by_file_row_and_column(tmp_path, edit, message):
    path = _file(tmp_path, edit(GOOD))
    with pytest.raises(SignalFileError) as error:
        read_signal_file(path, ["AAA", "BBB"])
    assert str(path) in str(error.value) and message in str(error.value)


def test_reference_signals_are_position_changes_with_a_strength_from_the_past_only():
    bars = simulate_market(MarketSimConfig(symbols=("AAA", "BBB"), n_bars=700, seed=3))
    full = reference_signals(replay_bars(bars).bars)
    cut = bars["timestamp"].unique().sort()[450]
    prefix = reference_signals(replay_bars(bars.filter(pl.col("timestamp") <= cut)).bars)
    assert prefix.equals(full.filter(pl.col("timestamp") <= cut)), "later bars change no earlier signal"
    assert set(full["strategy_id"]) == set(TEMPLATES)
    assert full["strength"].is_between(0.0, 1.0).all()
    aaa = bars.filter(pl.col("symbol") == "AAA").sort("timestamp")
    held = positions("sma_crossover", TEMPLATES["sma_crossover"].defaults, aaa)
    changes = aaa["timestamp"].to_numpy()[np.flatnonzero(np.diff(np.concatenate([[0], held])))]
    mine = full.filter((pl.col("symbol") == "AAA") & (pl.col("strategy_id") == "sma_crossover"))
    assert (mine["timestamp"].dt.replace_time_zone(None).to_numpy() == changes).all()
