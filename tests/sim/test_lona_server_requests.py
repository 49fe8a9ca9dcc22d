"""The request bodies the original backend sends, accepted by the stand-in over real HTTP."""

from __future__ import annotations

import time

import httpx
import pytest

from nexus_assets.sim.process import running_lona_stand_in

SYMBOLS = ("AAPL", "SPY")


@pytest.fixture(scope="module")
def stand_in():
    with running_lona_stand_in(seed=5, symbols=SYMBOLS, n_strategies=3) as running:
        yield running


@pytest.fixture
def api(stand_in):
    headers = {"X-API-Key": stand_in.token, "X-User-Id": stand_in.user_id}
    with httpx.Client(base_url=stand_in.base_url + "/", headers=headers, timeout=10) as client:
        yield client


def spy_id(api) -> str:
    items = api.get("symbols").json()["data"]["items"]
    return next(s["id"] for s in items if s["name"] == "SPY")


def finished_full_report(api, report_id: str) -> dict:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if api.get(f"reports/{report_id}/status").json()["data"]["status"] in ("COMPLETED", "FAILED"):
            return api.get(f"reports/{report_id}/full").json()["data"]
        time.sleep(0.02)
    raise AssertionError(f"report {report_id} did not finish")


def test_strategy_creation_takes_the_original_backends_body(api):
    """``LonaStrategyCreateRequest``: name, code, description (may be null), version, language."""
    body = {
        "name": "Uploaded SMA",
        "code": "import backtrader as bt\nclass S(bt.Strategy):\n    pass\n",
        "description": None,
        "version": "2.3.0",
        "language": "python",
    }
    created = api.post("strategies", json=body)
    assert created.status_code == 201, created.text
    strategy = api.get(f"strategies/{created.json()['data']['id']}").json()["data"]
    assert strategy["version"] == "2.3.0"
    assert strategy["language"] == "python"
    assert strategy["code"] == body["code"]


@pytest.mark.parametrize(
    ("field", "value"),
    [("version", 2), ("version", ""), ("language", "rust"), ("language", None), ("name", 7)],
)
def test_strategy_creation_names_the_bad_field(api, field, value):
    response = api.post("strategies", json={"name": f"Bad {field}", field: value})
    assert response.status_code == 422
    locations = [item["loc"] for item in response.json()["detail"]]
    assert ["body", field] in locations


def test_run_takes_the_original_simulation_parameters(api):
    """``LonaSimulationParameters``: initial_cash, commission_schema {commission, leverage}, buy_on_close."""
    strategy = api.get("strategies").json()["data"]["items"][0]
    base = {
        "strategy_id": strategy["id"],
        "data_ids": [spy_id(api)],
        "start_date": "2021-06-01",
        "end_date": "2023-06-01",
    }
    reports = {}
    for leverage in (1, 2):
        parameters = {
            "initial_cash": 40_000,
            "commission_schema": {"commission": 0.0, "leverage": leverage},
            "buy_on_close": True,
        }
        response = api.post("runner/run", json={**base, "simulation_parameters": parameters})
        assert response.status_code == 200, response.text
        reports[leverage] = finished_full_report(api, response.json()["data"]["report_id"])
    single, double = reports[1], reports[2]
    assert single["backtest_timeline"][0]["equity"] == 40_000
    assert single["trades"]
    assert [t["entry_time"] for t in single["trades"]] == [t["entry_time"] for t in double["trades"]]
    for one, two in zip(single["trades"], double["trades"], strict=True):
        assert two["quantity"] == pytest.approx(2 * one["quantity"], abs=1.0)


@pytest.mark.parametrize(
    ("parameters", "field"),
    [
        ({"initial_cash": "lots"}, "simulation_parameters.initial_cash"),
        ({"commission_schema": {"commission": "0.1%"}}, "simulation_parameters.commission_schema.commission"),
        ({"commission_schema": {"leverage": True}}, "simulation_parameters.commission_schema.leverage"),
        ({"commission_schema": {"fee": 1}}, "simulation_parameters.commission_schema"),
        ({"commission_schema": 0.001}, "simulation_parameters.commission_schema"),
        ({"buy_on_close": "yes"}, "simulation_parameters.buy_on_close"),
        ({"slippage": 0.1}, "simulation_parameters"),
    ],
)
def test_bad_simulation_parameters_name_the_field(api, parameters, field):
    strategy = api.get("strategies").json()["data"]["items"][0]
    body = {
        "strategy_id": strategy["id"],
        "data_ids": [spy_id(api)],
        "start_date": "2021-06-01",
        "end_date": "2022-06-01",
        "simulation_parameters": parameters,
    }
    response = api.post("runner/run", json=body)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["message"].startswith(f"{field}:")
