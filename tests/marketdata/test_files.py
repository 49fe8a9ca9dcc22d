"""The file source: CSV and Parquet, per-symbol files or long tables, precise errors."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from nexus_assets.marketdata.files import read_bars_file, read_bars_folder
from nexus_assets.ml.bars import BarsValidationError
from nexus_assets.sim.market import MarketSimConfig, simulate_market

GOOD_CSV = """date,open,high,low,close,volume
2024-01-02,10,11,9,10.5,100
2024-01-03,10.5,11,9.5,10,200
2024-01-04,10,10.4,9.8,10.1,150
"""


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


def test_csv_per_symbol_uses_the_file_stem(tmp_path):
    _write(tmp_path, "AAA.csv", GOOD_CSV)
    _write(tmp_path, "BBB.csv", GOOD_CSV.replace("10.1,150", "10.2,150"))
    bars = read_bars_folder(tmp_path)
    assert bars["symbol"].unique().sort().to_list() == ["AAA", "BBB"]
    assert bars.height == 6
    assert str(bars.schema["timestamp"]) == "Datetime(time_unit='us', time_zone='UTC')"


def test_long_parquet_table_round_trips_the_simulator(tmp_path):
    simulated = simulate_market(MarketSimConfig(symbols=("X", "Y"), n_bars=50))
    simulated.write_parquet(tmp_path / "all.parquet")
    assert read_bars_folder(tmp_path).equals(simulated)


def test_symbol_filter_and_unknown_symbol(tmp_path):
    _write(tmp_path, "AAA.csv", GOOD_CSV)
    _write(tmp_path, "BBB.csv", GOOD_CSV)
    assert read_bars_folder(tmp_path, symbols=["BBB"])["symbol"].unique().to_list() == ["BBB"]
    with pytest.raises(BarsValidationError, match="symbols not found: ZZZ"):
        read_bars_folder(tmp_path, symbols=["ZZZ"])


def test_volume_is_optional(tmp_path):
    path = _write(tmp_path, "AAA.csv", "timestamp,open,high,low,close\n2024-01-02T21:00:00Z,1,2,0.5,1.5\n")
    bars = read_bars_file(path)
    assert bars["volume"].null_count() == 1


@pytest.mark.parametrize(
    ("text", "row", "column", "reason"),
    [
        (GOOD_CSV.replace("2024-01-03", "2024-13-45"), 3, "timestamp", "cannot parse '2024-13-45'"),
        (GOOD_CSV.replace("10.5,11,9.5", "-10.5,11,9.5"), 3, "open", "price must be positive"),
        (GOOD_CSV.replace("10,10.4,9.8", "10,9.7,9.8"), 4, "high", "high is below low"),
        (GOOD_CSV.replace("10.5,100", "ten,100"), 2, "close", "cannot parse 'ten' as a number"),
    ],
)
def test_bad_rows_name_file_row_and_column(tmp_path, text, row, column, reason):
    path = _write(tmp_path, "AAA.csv", text)
    with pytest.raises(BarsValidationError) as caught:
        read_bars_file(path)
    error = caught.value
    assert (error.source, error.row, error.column) == (str(path), row, column)
    assert reason in str(error)
    assert str(error).startswith(f"{path}, row {row}, column '{column}'")


def test_missing_column_names_the_file(tmp_path):
    path = _write(tmp_path, "AAA.csv", "date,open,low,close\n2024-01-02,1,0.5,1\n")
    with pytest.raises(BarsValidationError, match=r"AAA.csv, column 'high': missing required column"):
        read_bars_file(path)


def test_unreadable_and_empty_folders(tmp_path):
    with pytest.raises(BarsValidationError, match="no such file or folder"):
        read_bars_folder(tmp_path / "absent")
    with pytest.raises(BarsValidationError, match=r"no \.csv, \.parquet, \.pq files"):
        read_bars_folder(tmp_path)
    path = _write(tmp_path, "AAA.csv", "date,open,high,low,close\n2024-01-02,1,2\n")
    with pytest.raises(BarsValidationError, match=r"AAA\.csv"):
        read_bars_file(path)


def test_duplicate_dates_across_a_long_table_are_rejected(tmp_path):
    frame = pl.read_csv(GOOD_CSV.encode())
    pl.concat([frame, frame.head(1)]).with_columns(pl.lit("AAA").alias("symbol")).write_csv(
        tmp_path / "long.csv"
    )
    with pytest.raises(BarsValidationError, match="duplicate timestamp"):
        read_bars_folder(tmp_path)
