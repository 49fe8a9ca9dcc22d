"""What the client sends when it creates strategies and runs, checked against the stand-in."""

from __future__ import annotations

import pytest

from nexus_assets.lona import LonaRequestError, LonaValidationError, SimulationParameters


def spy_id(client) -> str:
    return next(s["id"] for s in client.list_symbols() if s["name"] == "SPY")


def test_created_strategy_keeps_its_version_and_language(client):
    created = client.create_strategy("Versioned", "kept as sent", version="3.1.0", symbols=["SPY"])
    strategy = client.get_strategy(created["id"])
    assert (strategy["version"], strategy["language"]) == ("3.1.0", "python")
    default = client.get_strategy(client.create_strategy("Unversioned", symbols=["SPY"])["id"])
    assert default["version"] == "1.0.0"


def test_a_language_lona_refuses_is_a_validation_error_naming_it(client):
    with pytest.raises(LonaValidationError, match="language") as caught:
        client.create_strategy("In Rust", language="rust", symbols=["SPY"])
    assert caught.value.status == 422


@pytest.mark.parametrize(("field", "value"), [("version", ""), ("language", 3), ("name", " ")])
def test_the_client_refuses_to_send_an_empty_field(client, sim, field, value):
    arguments = {"name": "Named", field: value}
    with pytest.raises(LonaRequestError, match=field):
        client.create_strategy(**arguments)
    assert sim.attempts("POST", "/strategies") == 0


def test_runs_send_the_simulation_parameters_in_lonas_shape(client):
    strategy = client.list_strategies()[3]
    spy = spy_id(client)
    chosen = SimulationParameters(initial_cash=30_000, commission=0.0, leverage=1.0)
    report_id = client.run_backtest(strategy["id"], [spy], "2021-03-01", "2023-03-01", chosen)
    client.wait_for_report(report_id, timeout_s=10, poll_s=0.05)
    full = client.get_full_report(report_id)
    assert full["backtest_timeline"][0]["equity"] == 30_000
    free = sum(t["pnl"] for t in full["trades"])
    assert full["backtest_timeline"][-1]["equity"] - 30_000 == pytest.approx(free, abs=1e-6)

    defaulted = client.run_backtest(strategy["id"], [spy], "2021-03-01", "2023-03-01")
    client.wait_for_report(defaulted, timeout_s=10, poll_s=0.05)
    paid = client.get_full_report(defaulted)
    assert paid["backtest_timeline"][0]["equity"] == 100_000
    assert [t["entry_time"] for t in paid["trades"]] == [t["entry_time"] for t in full["trades"]]


def test_simulation_parameters_travel_as_the_original_backend_sends_them():
    assert SimulationParameters(initial_cash=5_000, commission=0.002, leverage=2).to_json() == {
        "initial_cash": 5_000,
        "commission_schema": {"commission": 0.002, "leverage": 2},
        "buy_on_close": True,
    }


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"initial_cash": "10k"}, "initial_cash"),
        ({"initial_cash": 0}, "initial_cash"),
        ({"commission": float("nan")}, "commission"),
        ({"leverage": True}, "leverage"),
        ({"buy_on_close": "yes"}, "buy_on_close"),
    ],
)
def test_bad_simulation_parameters_name_the_field(arguments, field):
    with pytest.raises(LonaRequestError, match=f"simulation_parameters.{field}:"):
        SimulationParameters(**arguments)
