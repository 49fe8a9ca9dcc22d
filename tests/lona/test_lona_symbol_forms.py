"""Symbol data in each form Lona may answer, read by the client from the stand-in over HTTP."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import httpx
import orjson
import polars as pl
import pytest

from nexus_assets.lona import LonaAuthError, LonaProtocolError
from nexus_assets.lona.symbol_files import download_csv
from nexus_assets.ml.bars import BAR_SCHEMA
from nexus_assets.sim.market import MarketSimConfig, simulate_market

FORMS = ("columnar", "records", "file_url", "symbol_file_url")


def symbol_id(client, name: str) -> str:
    return next(s["id"] for s in client.list_symbols() if s["name"] == name)


def expected_bars(sim, name: str) -> pl.DataFrame:
    state = sim.state()
    config = MarketSimConfig(n_bars=state["revealed_bars"], seed=7, start=date.fromisoformat(state["start"]))
    return simulate_market(config).filter(pl.col("symbol") == name)


@pytest.mark.parametrize("form", FORMS)
def test_every_form_gives_the_same_bars(client, sim, form):
    sim.forms(symbol_data=form)
    sid = symbol_id(client, "MSFT")
    bars = client.get_symbol_data(sid)
    assert bars.schema == pl.Schema(BAR_SCHEMA)
    assert bars.equals(expected_bars(sim, "MSFT"))
    downloads = sim.protocol()["file_downloads"]
    assert downloads == (1 if form in ("file_url", "symbol_file_url") else 0)
    assert sim.protocol()["file_downloads_with_credentials"] == 0
    assert sim.attempts("GET", f"/symbols/{sid}") == 1
    assert sim.attempts("GET", f"/symbols/{sid}/data") == (0 if form == "symbol_file_url" else 1)


@pytest.mark.parametrize("form", FORMS)
def test_every_form_keeps_to_the_asked_range(client, sim, form):
    sim.forms(symbol_data=form)
    start = datetime(2022, 3, 1, tzinfo=UTC)
    end = datetime(2022, 3, 31, 23, 59, tzinfo=UTC)
    bars = client.get_symbol_data(symbol_id(client, "AAPL"), start=start, end=end)
    whole = expected_bars(sim, "AAPL")
    assert bars.equals(whole.filter(pl.col("timestamp").is_between(start, end)))
    assert 15 <= bars.height <= 23


def answer_data(sim, sid: str, data: object) -> None:
    """The next /data answer is ``{"data": data}`` with status 200, whatever the stand-in holds."""
    body = orjson.dumps({"data": data}).decode()
    sim.arm(malformed=True, body=body, path_prefix=f"/symbols/{sid}/data")


def records(n: int) -> list[dict]:
    return [
        {
            "timestamp": f"2024-01-0{i + 1}T21:00:00Z",
            "open": 10,
            "high": 11,
            "low": 9,
            "close": 10.5,
            "volume": 100,
        }
        for i in range(n)
    ]


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"close": "10.5"}, "data[3].close: expected a number, got '10.5'"),
        ({"volume": None}, "data[3].volume: expected a number, got None"),
        ({"open": True}, "data[3].open: expected a number, got True"),
        ({"timestamp": 1704315600}, "data[3].timestamp: expected ISO 8601 text"),
        ({"timestamp": "Jan 5"}, "data[3].timestamp: expected an ISO 8601 time"),
    ],
)
def test_a_wrong_typed_bar_is_named_by_its_place(client, sim, change, where):
    sid = symbol_id(client, "SPY")
    bad = records(5)
    bad[3].update(change)
    answer_data(sim, sid, bad)
    with pytest.raises(LonaProtocolError, match=r"symbol data: .*" + re.escape(where)) as caught:
        client.get_symbol_data(sid)
    assert caught.value.path == f"/symbols/{sid}/data"


def test_a_bar_missing_a_field_is_named(client, sim):
    sid = symbol_id(client, "SPY")
    bad = records(3)
    del bad[1]["high"]
    answer_data(sim, sid, bad)
    with pytest.raises(LonaProtocolError, match=r"data\[1\]\.high: missing"):
        client.get_symbol_data(sid)


def test_plain_records_are_read_even_when_the_server_sends_them_directly(client, sim):
    sid = symbol_id(client, "SPY")
    answer_data(sim, sid, records(4))
    bars = client.get_symbol_data(sid)
    assert bars["close"].to_list() == [10.5] * 4
    assert set(bars["symbol"]) == {"SPY"}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"file_url": "file:///etc/passwd"}, r"file_url: expected an absolute http\(s\) URL"),
        ({"file_url": 12}, r"file_url: expected an absolute http\(s\) URL"),
        ({"rows": []}, r"expected an OHLCV array, \{file_url\} or \{name, bars\}, got \['rows'\]"),
        ("bars", r"got str"),
    ],
)
def test_an_unknown_form_or_bad_link_is_a_protocol_error(client, sim, data, message):
    sid = symbol_id(client, "SPY")
    answer_data(sim, sid, data)
    with pytest.raises(LonaProtocolError, match=message):
        client.get_symbol_data(sid)
    assert sim.protocol()["file_downloads"] == 0


def test_a_bad_csv_file_names_row_and_column(client, sim):
    csv = (
        "timestamp,open,high,low,close,volume\n"
        "2024-01-02 21:00:00,10,11,9,10.5,100\n"
        "2024-01-03 21:00:00,10.5,11,10,n/a,100\n"
    )
    sim.forms(symbol_data="file_url", file_body=csv)
    with pytest.raises(LonaProtocolError, match=r"row 2, column 'close': not a number: 'n/a'") as caught:
        client.get_symbol_data(symbol_id(client, "SPY"))
    assert caught.value.path.endswith(".csv")
    assert "signature" not in str(caught.value)

    sim.forms(file_body="timestamp,open,high,low,volume\n2024-01-02 21:00:00,10,11,9,100\n")
    with pytest.raises(LonaProtocolError, match=r"column 'close': missing required column"):
        client.get_symbol_data(symbol_id(client, "SPY"))


def test_a_refused_download_is_typed_and_hides_the_signature(client, sim, lona_stand_in):
    sim.forms(symbol_data="file_url")
    sid = symbol_id(client, "SPY")
    headers = {"X-API-Key": lona_stand_in.token, "X-User-Id": lona_stand_in.user_id}
    link = httpx.get(f"{lona_stand_in.base_url}/symbols/{sid}/data", headers=headers).json()["data"][
        "file_url"
    ]
    assert link.startswith(lona_stand_in.root_url + "/files/symbols/")
    with httpx.Client() as http:
        assert download_csv(http, link).startswith(b"timestamp,open,high,low,close,volume\n")
        with pytest.raises(LonaAuthError) as caught:
            download_csv(http, link.replace("signature=", "signature=0"))
    assert caught.value.status == 403
    assert "signature" not in str(caught.value)
