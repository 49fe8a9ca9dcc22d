"""Bar validation names the rule, the row and the column of the first problem."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nexus_assets.ml.bars import (
    BAR_SCHEMA,
    BarsValidationError,
    validate_bar_columns,
    validate_bars,
    values_clean,
)


def _bars(**overrides: list) -> pl.DataFrame:
    base = {
        "symbol": ["AAA", "AAA", "AAA"],
        "timestamp": [datetime(2024, 1, d, 21, tzinfo=UTC) for d in (2, 3, 4)],
        "open": [10.0, 10.5, 10.2],
        "high": [11.0, 11.0, 10.8],
        "low": [9.5, 10.0, 9.9],
        "close": [10.5, 10.2, 10.6],
        "volume": [100.0, 120.0, 90.0],
    }
    base.update(overrides)
    return pl.DataFrame(base, schema=BAR_SCHEMA)


def test_valid_bars_come_back_sorted():
    frame = _bars().reverse()
    assert validate_bars(frame, source="t")["timestamp"].is_sorted()


@pytest.mark.parametrize(
    ("overrides", "column", "row", "reason"),
    [
        ({"high": [11.0, 9.0, 10.8]}, "high", 2, "high is below low"),
        ({"close": [10.5, 11.5, 10.6]}, "high", 2, "high is below open or close"),
        ({"low": [9.5, 10.0, 10.5]}, "low", 3, "low is above open or close"),
        ({"open": [10.0, -1.0, 10.2]}, "open", 2, "price must be positive"),
        ({"volume": [100.0, -5.0, 90.0]}, "volume", 2, "volume must not be negative"),
        ({"close": [10.5, float("nan"), 10.6]}, "close", 2, "value is not finite"),
        ({"close": [10.5, None, 10.6]}, "close", 2, "value is missing"),
        (
            {
                "timestamp": [datetime(2024, 1, 2, 21, tzinfo=UTC)] * 2
                + [datetime(2024, 1, 4, 21, tzinfo=UTC)]
            },
            "timestamp",
            1,
            "duplicate timestamp for this symbol",
        ),
    ],
)
def test_each_rule_names_row_and_column(overrides, column, row, reason):
    with pytest.raises(BarsValidationError) as caught:
        validate_bars(_bars(**overrides), source="prices.csv")
    error = caught.value
    assert (error.column, error.row, error.reason) == (column, row, reason)
    assert str(error) == f"prices.csv, row {row}, column '{column}': {reason}"


def test_missing_column_is_named():
    with pytest.raises(BarsValidationError, match=r"column 'high': missing required column\(s\): high"):
        validate_bars(_bars().drop("high"), source="s")


def test_source_row_numbers_are_used_when_present():
    frame = _bars(high=[11.0, 11.0, 9.0]).with_columns(pl.Series("__row", [10, 11, 12]))
    with pytest.raises(BarsValidationError) as caught:
        validate_bars(frame, source="s")
    assert caught.value.row == 12


def _columns(frame: pl.DataFrame) -> dict[str, np.ndarray]:
    columns = {"timestamp": frame["timestamp"].dt.epoch("us").to_numpy()}
    columns.update({name: frame[name].to_numpy() for name in ("open", "high", "low", "close", "volume")})
    return columns


def test_bar_columns_pass_and_fail_exactly_as_the_table():
    """One symbol's NumPy columns (the serving path) meet the same rules, with the same row and column."""
    validate_bar_columns("AAA", _columns(_bars()), source="t")
    broken = [
        _bars(high=[11.0, 9.0, 10.8]),
        _bars(volume=[100.0, -1.0, 90.0]),
        _bars(close=[10.5, float("nan"), 10.6]),
        _bars(timestamp=[datetime(2024, 1, d, 21, tzinfo=UTC) for d in (2, 3, 3)]),
    ]
    for frame in broken:
        with pytest.raises(BarsValidationError) as from_columns:
            validate_bar_columns("AAA", _columns(frame), source="t")
        with pytest.raises(BarsValidationError) as from_table:
            validate_bars(frame, source="t")
        assert (from_columns.value.column, from_columns.value.row) == (
            from_table.value.column,
            from_table.value.row,
        )
        assert from_columns.value.reason == from_table.value.reason
    # A table is sorted; columns cannot be, so out-of-order bars are refused.
    unordered = _bars(timestamp=[datetime(2024, 1, d, 21, tzinfo=UTC) for d in (2, 4, 3)])
    with pytest.raises(BarsValidationError, match="strictly increase"):
        validate_bar_columns("AAA", _columns(unordered), source="t")


def _numpy_rules(open_, high, low, close, volume) -> bool:
    """The nine value rules as NumPy expressions: what the compiled pass must agree with."""
    with np.errstate(invalid="ignore"):
        ok = (
            (low > 0) & (high < np.inf) & (high >= low) & (high >= open_) & (high >= close)
            & (low <= open_) & (low <= close) & (volume >= 0) & (volume < np.inf)
        )  # fmt: skip
    return bool(ok.all())


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(*[st.sampled_from([1.0, 2.0, 3.0, 0.0, -1.0, 5e-324, np.inf, -np.inf, np.nan])] * 5),
        min_size=1,
        max_size=6,
    )
)
def test_the_compiled_value_rules_agree_with_numpy(rows):
    """Every mix of ordinary, zero, negative, denormal, infinite and NaN values."""
    columns = [np.array(column, dtype=np.float64) for column in zip(*rows, strict=True)]
    assert values_clean(*columns) == _numpy_rules(*columns)
