"""``plan_orders`` arithmetic: weights to lot-rounded market orders, with every refusal named."""

from __future__ import annotations

import math

import pytest

from nexus_assets.live_engine import OrderRequest, plan_orders

PRICES = {"AAPL": 100.0, "MSFT": 250.0, "SPY": 400.0}


def plan(weights, positions=None, prices=None, equity=100_000.0, **options):
    return plan_orders(
        weights,
        positions or {},
        PRICES if prices is None else prices,
        equity,
        allocation_id="alloc-7",
        deployment_id="dep-1",
        **options,
    )


def trades(orders: list[OrderRequest]) -> list[tuple[str, str, float]]:
    return [(o.symbol, o.side, o.quantity) for o in orders]


def test_from_cash_to_target_weights():
    orders = plan({"AAPL": 0.5, "MSFT": 0.3})
    assert trades(orders) == [("AAPL", "buy", 500.0), ("MSFT", "buy", 120.0)]
    assert [o.client_key for o in orders] == ["alloc-7:AAPL:1", "alloc-7:MSFT:1"]
    assert {(o.type, o.price, o.deployment_id) for o in orders} == {("market", None, "dep-1")}


def test_moves_from_current_positions_and_sells_first():
    orders = plan({"AAPL": 0.2, "MSFT": 0.5}, positions={"AAPL": 300.0, "MSFT": 100.0})
    assert trades(orders) == [("AAPL", "sell", 100.0), ("MSFT", "buy", 100.0)]


def test_a_held_symbol_absent_from_the_targets_is_closed_in_full():
    orders = plan({"AAPL": 0.1}, positions={"AAPL": 100.0, "SPY": 12.345, "MSFT": -4.0})
    assert trades(orders) == [("SPY", "sell", 12.345), ("MSFT", "buy", 4.0)]
    assert [o.client_key for o in orders] == ["alloc-7:SPY:1", "alloc-7:MSFT:1"]


def test_a_zero_weight_closes_like_an_absent_one():
    assert trades(plan({"SPY": 0.0}, positions={"SPY": 2.5})) == [("SPY", "sell", 2.5)]


def test_quantities_round_toward_zero_to_whole_lots():
    # 0.3 * 100k / 250 = 120 shares; lots of 50 give 100, never 150.
    assert trades(plan({"MSFT": 0.3}, lot_size=50.0)) == [("MSFT", "buy", 100.0)]
    # 0.10001 * 100k / 100 = 100.01 shares: 100 (lots of 1) or 100.0 (lots of 0.1).
    assert trades(plan({"AAPL": 0.10001})) == [("AAPL", "buy", 100.0)]
    assert trades(plan({"AAPL": 0.10001}, lot_size=0.1)) == [("AAPL", "buy", 100.0)]
    assert trades(plan({"AAPL": 0.1234567}, lot_size=0.01)) == [("AAPL", "buy", 123.45)]
    # Selling rounds toward zero too: 301.7 held, 100 wanted, 201 sold (not 202).
    assert trades(plan({"AAPL": 0.1}, positions={"AAPL": 301.7})) == [("AAPL", "sell", 201.0)]


def test_floating_point_noise_does_not_lose_a_lot():
    weight = 0.7
    price = 100_000.0 * weight / 7.0  # so the target is 7 shares, computed as 6.999999999...
    assert trades(plan({"AAPL": weight}, prices={"AAPL": price})) == [("AAPL", "buy", 7.0)]


def test_tiny_trades_are_skipped():
    assert plan({"AAPL": 0.1}, positions={"AAPL": 99.6}) == []
    assert plan({"AAPL": 0.001}, min_notional=150.0) == []
    assert trades(plan({"AAPL": 0.001}, min_notional=100.0)) == [("AAPL", "buy", 1.0)]
    assert plan({"SPY": 0.0}, positions={"SPY": 0.001}) == []


def test_short_targets_sell_past_zero():
    assert trades(plan({"AAPL": -0.1}, positions={"AAPL": 50.0})) == [("AAPL", "sell", 150.0)]


def test_symbols_with_nothing_to_do_need_no_price():
    assert plan({"GHOST": 0.0}, positions={"NONE": 0.0}) == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"weights": {"AAPL": math.nan}}, r"target_weights\['AAPL'\]: must be a finite number"),
        ({"weights": {"AAPL": math.inf}}, r"target_weights\['AAPL'\]"),
        ({"weights": {"AAPL": True}}, r"target_weights\['AAPL'\]"),
        ({"weights": {"TSLA": 0.1}}, r"prices: no price for 'TSLA'"),
        ({"weights": {"AAPL": 0.1}, "prices": {"AAPL": 0.0}}, r"prices\['AAPL'\]: must be greater than 0"),
        ({"weights": {"AAPL": 0.1}, "prices": {"AAPL": -5.0}}, r"prices\['AAPL'\]"),
        ({"weights": {"AAPL": 0.1}, "prices": {"AAPL": math.nan}}, r"prices\['AAPL'\]: must be a finite"),
        ({"weights": {}, "positions": {"SPY": 3.0}, "prices": {}}, r"prices: no price for 'SPY'"),
        ({"weights": {}, "positions": {"SPY": math.nan}}, r"positions\['SPY'\]"),
        ({"weights": {"AAPL": 0.1}, "equity": 0.0}, r"equity: must be greater than 0"),
        ({"weights": {"AAPL": 0.1}, "equity": math.nan}, r"equity: must be a finite number"),
        ({"weights": {"AAPL": 0.1}, "lot_size": 0.0}, r"lot_size: must be greater than 0"),
        ({"weights": {"AAPL": 0.1}, "min_notional": -1.0}, r"min_notional: must not be negative"),
    ],
)
def test_bad_input_names_the_symbol_or_field(kwargs, message):
    weights = kwargs.pop("weights")
    with pytest.raises(ValueError, match=message):
        plan(weights, **kwargs)


def test_empty_ids_are_refused():
    with pytest.raises(ValueError, match="allocation_id"):
        plan_orders({"AAPL": 0.1}, {}, PRICES, 1000.0, allocation_id="", deployment_id="d")
    with pytest.raises(ValueError, match="deployment_id"):
        plan_orders({"AAPL": 0.1}, {}, PRICES, 1000.0, allocation_id="a", deployment_id="")


def test_a_retried_symbol_carries_its_attempt_in_the_key():
    orders = plan({"AAPL": 0.5, "MSFT": 0.3}, attempts={"MSFT": 3})
    assert [o.client_key for o in orders] == ["alloc-7:AAPL:1", "alloc-7:MSFT:3"]
