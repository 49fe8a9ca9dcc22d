"""The signal cursor and batch names: compact, round-tripping, strict, order-independent."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest

from nexus_assets.lona.signal_batches import (
    CursorError,
    SignalCursor,
    StrategyMark,
    advance,
    batch_key,
    signals_after,
)
from nexus_assets.lona.signals import SIGNAL_SCHEMA

T0 = datetime(2026, 1, 5, 21, tzinfo=UTC)
T1 = datetime(2026, 1, 6, 21, tzinfo=UTC)


def _signals(*rows: tuple[str, datetime]) -> pl.DataFrame:
    frame = pl.DataFrame(
        {"signal_id": [r[0] for r in rows], "timestamp": [r[1] for r in rows]},
        schema={"signal_id": pl.String(), "timestamp": pl.Datetime("us", "UTC")},
    )
    return frame.join(pl.DataFrame(schema=SIGNAL_SCHEMA).drop("timestamp"), on="signal_id", how="left")


def test_cursor_round_trips_and_is_compact():
    cursor = SignalCursor({"st_b": StrategyMark("rep_2", T1), "st_a": StrategyMark("rep_1", None)})
    text = cursor.to_json()
    assert text == (
        '{"v":1,"strategies":{"st_a":{"report":"rep_1","through":null},'
        '"st_b":{"report":"rep_2","through":"2026-01-06T21:00:00Z"}}}'
    )
    with_ids = SignalCursor({"st": StrategyMark("rep_3", T1, frozenset({"s2", "s1"}))})
    assert '"at":["s1","s2"]' in with_ids.to_json()
    assert SignalCursor.parse(with_ids.to_json()) == with_ids
    assert SignalCursor.parse(text) == cursor
    assert SignalCursor.parse(None) == SignalCursor() == SignalCursor.parse("")


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[1, 2]",
        '{"v": 2, "strategies": {}}',
        '{"v": 1}',
        '{"v": 1, "strategies": {"st": {"report": "", "through": null}}}',
        '{"v": 1, "strategies": {"st": {"report": "r", "through": "yesterday"}}}',
        '{"v": 1, "strategies": {"st": {"report": "r", "through": null, "at": "s1"}}}',
    ],
)
def test_a_foreign_cursor_is_refused_by_name(text):
    with pytest.raises(CursorError, match="cursor"):
        SignalCursor.parse(text)


def test_only_signals_after_the_watermark_are_new():
    signals = _signals(("a", T0), ("b", T1))
    assert signals_after(signals, None)["signal_id"].to_list() == ["a", "b"]
    assert signals_after(signals, StrategyMark("r", None))["signal_id"].to_list() == ["a", "b"]
    assert signals_after(signals, StrategyMark("r", T0))["signal_id"].to_list() == ["b"]
    assert signals_after(signals, StrategyMark("r", T1)).is_empty()


def test_the_watermark_never_moves_back():
    assert advance(None, "r1", _signals(("a", T0))) == StrategyMark("r1", T0, frozenset({"a"}))
    assert advance(StrategyMark("r1", T1, frozenset()), "r2", _signals(("a", T0))) == StrategyMark(
        "r2", T1, frozenset()
    )
    assert advance(StrategyMark("r1", T0, frozenset({"a"})), "r2", _signals()) == StrategyMark(
        "r2", T0, frozenset({"a"})
    )
    assert advance(None, "r1", _signals()) == StrategyMark("r1", None)


def test_a_late_signal_at_the_watermark_time_is_handed_on_once():
    mark = advance(None, "r1", _signals(("a", T0)))
    # The next report holds a second event on the same bar: it is new, "a" is not.
    later = _signals(("a", T0), ("b", T0))
    fresh = signals_after(later, mark)
    assert fresh["signal_id"].to_list() == ["b"]
    mark = advance(mark, "r2", fresh)
    assert mark == StrategyMark("r2", T0, frozenset({"a", "b"}))
    assert signals_after(later, mark).is_empty()
    assert SignalCursor.parse(SignalCursor({"st": mark}).to_json()) == SignalCursor({"st": mark})
    # A newer bar moves the watermark and keeps only its own ids.
    newer = advance(mark, "r3", signals_after(_signals(("a", T0), ("b", T0), ("c", T1)), mark))
    assert newer == StrategyMark("r3", T1, frozenset({"c"}))


def test_a_cursor_written_before_ids_were_kept_still_hands_on_nothing_twice():
    old = SignalCursor.parse('{"v":1,"strategies":{"st":{"report":"r1","through":"2026-01-05T21:00:00Z"}}}')
    mark = old.marks["st"]
    assert mark == StrategyMark("r1", T0, None)
    assert signals_after(_signals(("a", T0), ("b", T1)), mark)["signal_id"].to_list() == ["b"]
    assert advance(mark, "r2", _signals()) == StrategyMark("r2", T0, None)


def test_a_batch_is_named_by_its_signals_in_any_order():
    assert batch_key(["sig_b", "sig_a"]) == batch_key(["sig_a", "sig_b"])
    assert batch_key(["sig_a"]) != batch_key(["sig_a", "sig_b"])
    assert batch_key(["sig_a"]).startswith("lona-signals-")
