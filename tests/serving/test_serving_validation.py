"""Bad input gets 400, 413 or 422 naming the field, never a 500."""

from __future__ import annotations

import copy
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from serving_support import AUTH, decision_body


def _post(client, body):
    return client.post("/v1/decisions", json=body, headers=AUTH)


def _broken(market, path: tuple, value):
    body = decision_body(market, request_id="bad-input", symbol="S10")
    target = body
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value(copy.deepcopy(target[path[-1]])) if callable(value) else value
    return body


def _set_at(index: int, value):
    def change(column: list) -> list:
        column[index] = value
        return column

    return change


CASES = [
    (("signal", "strength"), False, ["body", "signal", "strength"]),
    (("signal", "strength"), "1.0", ["body", "signal", "strength"]),
    (("signal", "strength"), 1.5, ["body", "signal", "strength"]),
    (("signal", "strength"), -0.1, ["body", "signal", "strength"]),
    (("signal", "side"), "long", ["body", "signal", "side"]),
    (("signal", "timestamp"), 1700000000, ["body", "signal", "timestamp"]),
    (("signal", "timestamp"), "2026-11-24T10:00:00", ["body", "signal", "timestamp"]),
    (("signal", "symbol"), "", ["body", "signal", "symbol"]),
    (("request_id",), 7, ["body", "request_id"]),
    (("bars", "close"), _set_at(3, "101.5"), ["body", "bars", "close", 3]),
    (("bars", "close"), _set_at(3, False), ["body", "bars", "close", 3]),
    (("bars", "open"), _set_at(4, -1.0), ["body", "bars", "open", 4]),
    (("bars", "open"), _set_at(4, 0.0), ["body", "bars", "open", 4]),
    (("bars", "low"), _set_at(5, 5e-324), ["body", "bars", "low", 5]),
    (("bars", "high"), _set_at(6, 2e9), ["body", "bars", "high", 6]),
    (("bars", "volume"), _set_at(7, -3.0), ["body", "bars", "volume", 7]),
    (("bars", "close"), lambda column: column[:-1], ["body", "bars"]),
    (("portfolio",), {"equity": True, "positions": {}}, ["body", "portfolio", "equity"]),
    (("portfolio",), {"equity": 1e6, "positions": {"S10": "3"}}, ["body", "portfolio", "positions", "S10"]),
]


@pytest.mark.parametrize(("path", "value", "loc"), CASES)
def test_bad_field_is_422_naming_it(client, market, path, value, loc):
    response = _post(client, _broken(market, path, value))
    assert response.status_code == 422, response.text
    locs = [error["loc"] for error in response.json()["detail"]]
    assert any(found[: len(loc)] == loc for found in locs), locs


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_non_finite_price_is_422(client, market, number):
    body = decision_body(market, request_id="nan", symbol="S10")
    text = client.build_request("POST", "/", json=body).content.decode()
    first_close = repr(body["bars"]["close"][0])
    raw = text.replace(f"[{first_close},", f"[{number},", 1)
    assert raw != text
    response = client.post("/v1/decisions", content=raw, headers={**AUTH, "Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"][:4] == ["body", "bars", "close", 0]


def test_high_below_close_names_column_and_index(client, market):
    body = decision_body(market, request_id="ohlc", symbol="S10")
    body["bars"]["high"][9] = body["bars"]["low"][9] * 0.999
    response = _post(client, body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "bars", "high", 9]


def test_unsorted_timestamps(client, market):
    body = decision_body(market, request_id="order", symbol="S10")
    stamps = body["bars"]["timestamp"]
    stamps[10], stamps[11] = stamps[11], stamps[10]
    response = _post(client, body)
    assert response.status_code == 422
    detail = response.json()["detail"][0]
    assert detail["loc"] == ["body", "bars", "timestamp", 11]
    assert "bars.timestamp[11] is not after bars.timestamp[10]" in detail["msg"]


def test_too_few_bars_says_how_many(client, market):
    needed = client.get("/v1/models", headers=AUTH).json()["bars_required"]
    response = _post(client, decision_body(market, request_id="short", symbol="S10", bars=needed - 1))
    assert response.status_code == 422
    detail = response.json()["detail"][0]
    assert detail["loc"] == ["body", "bars", "timestamp"]
    assert f"at least {needed} bars" in detail["msg"]
    assert (
        _post(client, decision_body(market, request_id="exact", symbol="S10", bars=needed)).status_code == 200
    )


def test_bars_of_another_symbol(client, market):
    body = decision_body(market, request_id="mismatch", symbol="S10")
    body["bars"]["symbol"] = "S11"
    response = _post(client, body)
    assert response.status_code == 422
    assert "signal's symbol" in response.json()["detail"][0]["msg"]


def test_unknown_symbol_is_fine(client, market):
    response = _post(client, decision_body(market, request_id="unknown", symbol="S10", as_symbol="NEWCO"))
    assert response.status_code == 200, response.text


def test_malformed_json_is_400(client):
    response = client.post(
        "/v1/decisions", content=b'{"request_id": ', headers={**AUTH, "Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert "detail" in response.json()


def test_oversized_body_is_413(client):
    response = client.post(
        "/v1/decisions",
        content=b" " * (1024 * 1024 + 1),
        headers={**AUTH, "Content-Type": "application/json"},
    )
    assert response.status_code == 413

    def chunks():
        for _ in range(1100):
            yield b" " * 1024

    streamed = client.post(
        "/v1/decisions", content=chunks(), headers={**AUTH, "Content-Type": "application/json"}
    )
    assert streamed.status_code == 413


MALFORMED = [
    b"",
    b"null",
    b"[]",
    b"1",
    b'"text"',
    b"{}",
    b"\xff\xfe\x00garbage",
    b'{"request_id": "x"}',
    b'{"request_id": "x", "signal": [], "bars": {}}',
    b'{"request_id": "x", "signal": {"side": null}, "bars": null}',
    b"[" * 5000 + b"]" * 5000,
    b'{"a": ' * 3000 + b"1" + b"}" * 3000,
    b'{"request_id": "x", "bars": {"timestamp": ["not a date"], "open": [1e309]}}',
    b'{"request_id": "' + b"x" * 10_000 + b'"}',
    b"{'single': 'quotes'}",
    b'{"request_id": "x",}',
]


@pytest.mark.parametrize("raw", MALFORMED, ids=range(len(MALFORMED)))
@pytest.mark.parametrize("path", ["/v1/decisions", "/v1/decisions/batch"])
def test_malformed_bodies_never_500(client, raw, path):
    response = client.post(path, content=raw, headers={**AUTH, "Content-Type": "application/json"})
    assert response.status_code in (400, 413, 422), (response.status_code, response.text[:300])
    assert "detail" in response.json()


def test_batch_size_limit(client, market):
    body = decision_body(market, request_id="many", symbol="S10")
    response = client.post("/v1/decisions/batch", json={"requests": [body] * 257}, headers=AUTH)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][:2] == ["body", "requests"]


TINY = 5e-324  # the smallest positive double: passes "> 0", and 1 / TINY is infinite


@pytest.mark.parametrize(
    ("portfolio", "loc"),
    [
        ({"equity": TINY, "positions": {"S10": 10.0}}, ["body", "portfolio", "equity"]),
        ({"equity": 1e6, "peak_equity": TINY, "positions": {}}, ["body", "portfolio", "peak_equity"]),
        ({"equity": 0.001, "positions": {}}, ["body", "portfolio", "equity"]),
    ],
)
def test_an_equity_the_policy_cannot_divide_by_is_422(client, market, portfolio, loc):
    response = _post(client, _broken(market, ("portfolio",), portfolio))
    assert response.status_code == 422, response.text
    assert [error["loc"] for error in response.json()["detail"]] == [loc]


def test_a_cent_of_equity_is_decided(client, market):
    body = _broken(market, ("portfolio",), {"equity": 0.01, "positions": {"S10": 1e12}})
    body["request_id"] = "a-cent"
    response = _post(client, body)
    assert response.status_code == 200, response.text


def test_a_tiny_equity_fails_no_neighbour_of_its_micro_batch(client, market):
    """Sent together, the requests share the worker's pass: each gets its own answer, none a 500."""
    good = [decision_body(market, request_id=f"tiny-neighbour-{i}", symbol=f"S{i}") for i in range(6)]
    bad = _broken(market, ("portfolio",), {"equity": TINY, "positions": {"S10": 10.0}})
    bad["request_id"] = "tiny-equity"
    bodies = [*good[:3], bad, *good[3:]]
    with (
        httpx.Client(base_url=str(client.base_url), headers=AUTH, timeout=30) as fresh,
        ThreadPoolExecutor(len(bodies)) as pool,
    ):
        responses = list(pool.map(lambda body: fresh.post("/v1/decisions", json=body), bodies))
    assert [r.status_code for r in responses] == [200, 200, 200, 422, 200, 200, 200]


def test_a_batch_with_a_tiny_equity_decides_nothing(client, market):
    good = [decision_body(market, request_id=f"tiny-batch-{i}", symbol=f"S{i}") for i in range(3)]
    bad = _broken(market, ("portfolio",), {"equity": TINY, "positions": {"S10": 10.0}})
    bad["request_id"] = "tiny-batch-bad"
    response = client.post("/v1/decisions/batch", json={"requests": [*good, bad]}, headers=AUTH)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["body", "requests", 3, "portfolio", "equity"]


ID_FIELDS = [("request_id",), ("signal", "signal_id"), ("signal", "strategy_id")]


@pytest.mark.parametrize("path", ID_FIELDS, ids=lambda path: ".".join(path))
@pytest.mark.parametrize("character", ["\x00", "\n", "\x1b", "\x7f", "\x85"], ids=repr)
def test_a_control_character_in_an_id_is_422_naming_it(client, market, path, character):
    body = _broken(market, path, f"id{character}x")
    response = _post(client, body)
    assert response.status_code == 422, response.text
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", *path]
    assert f"U+{ord(character):04X}" in error["msg"]


def test_an_id_with_letters_of_any_script_is_fine(client, market):
    body = decision_body(market, request_id="ordre-é-注文-🙂", symbol="S10")
    assert _post(client, body).status_code == 200
