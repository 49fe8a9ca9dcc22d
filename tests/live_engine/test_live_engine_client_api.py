"""The client's resources end to end against a real stand-in process: orders, fills, portfolios."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from nexus_assets.live_engine import LiveEngineConflictError, OrderRequest
from nexus_assets.lona.wire import parse_time
from nexus_assets.sim.market import MarketSimConfig, simulate_market, start_for_end

CAPITAL = 1_000_000.0


def order(deployment, key: str, **changes) -> OrderRequest:
    fields = {
        "symbol": "MSFT",
        "side": "buy",
        "quantity": 10.0,
        "deployment_id": deployment.id,
        "idempotency_key": key,
        **changes,
    }
    return OrderRequest(**fields)


def current_bar(state: dict, symbol: str) -> dict:
    """The stand-in's current bar of ``symbol``, simulated here independently of the stand-in."""
    index, bar_time = state["bar_index"], parse_time(state["bar_time"])
    config = MarketSimConfig(n_bars=index + 1, seed=state["seed"], start=start_for_end(bar_time, index + 1))
    bars = simulate_market(config).filter(symbol=symbol)
    assert bars["timestamp"][-1] == bar_time
    return bars.row(-1, named=True)


def test_new_deployment_is_an_all_cash_portfolio(client, deployment):
    assert deployment.mode == "paper"
    assert deployment.capital == CAPITAL
    assert deployment.status == "running"
    portfolio = client.get_portfolio(deployment.id)
    assert portfolio.deployment_id == deployment.id
    assert (portfolio.cash, portfolio.equity, dict(portfolio.positions)) == (CAPITAL, CAPITAL, {})
    assert deployment.id in {p.id for p in client.list_portfolios()}


def test_deployment_key_gives_one_deployment(client, sim):
    first = client.create_deployment("st-keyed", mode="live", capital=5000.0, idempotency_key="deploy-once")
    again = client.create_deployment("st-keyed", mode="live", capital=5000.0, idempotency_key="deploy-once")
    assert again == first
    assert sim.state()["deployments"] == len(client.list_portfolios())
    with pytest.raises(LiveEngineConflictError, match="deploy-once"):
        client.create_deployment("st-keyed", mode="paper", capital=5000.0, idempotency_key="deploy-once")


def test_placed_order_is_pending_until_the_next_bar(client, sim, deployment):
    before = datetime.now(UTC) - timedelta(seconds=1)
    placement = client.place_order(order(deployment, "k-pending"))
    placed = placement.order
    assert placement.created
    assert (placed.status, placed.symbol, placed.side, placed.type) == ("pending", "MSFT", "buy", "market")
    assert (placed.quantity, placed.filled_quantity, placed.filled_price, placed.price) == (
        10.0,
        0.0,
        None,
        None,
    )
    assert placed.deployment_id == deployment.id
    assert placed.idempotency_key == "k-pending"
    assert placed.created_at >= before
    assert not placed.is_final
    assert client.get_order(placed.id) == placed
    assert client.get_portfolio(deployment.id).cash == CAPITAL


def test_same_key_twice_answers_the_same_order(client, sim, deployment):
    first = client.place_order(order(deployment, "k-twice"))
    second = client.place_order(order(deployment, "k-twice"))
    assert (first.created, second.created) == (True, False)
    assert second.order == first.order
    assert sim.stats()["statuses"] == {"201": 1, "200": 1}
    assert len(sim.orders(deployment.id)) == 1


def test_keys_are_scoped_to_a_deployment(client, sim, deployment):
    other = client.create_deployment(
        "st-other", mode="paper", capital=CAPITAL, idempotency_key=f"{deployment.id}-2"
    )
    mine = client.place_order(order(deployment, "k-scoped")).order
    theirs = client.place_order(order(other, "k-scoped")).order
    assert mine.id != theirs.id


def test_market_orders_fill_at_the_next_open_and_move_the_portfolio(client, sim, deployment):
    buy = client.place_order(order(deployment, "k-buy", symbol="MSFT", quantity=100.0)).order
    sell = client.place_order(order(deployment, "k-sell", symbol="SPY", side="sell", quantity=40.0)).order
    tick = sim.tick()
    assert {buy.id, sell.id} <= set(tick["filled"])
    state = tick["state"]
    filled_buy, filled_sell = client.get_order(buy.id), client.get_order(sell.id)
    assert filled_buy.status == filled_sell.status == "filled"
    assert filled_buy.is_final
    assert filled_buy.filled_quantity == 100.0
    assert filled_buy.filled_price == pytest.approx(current_bar(state, "MSFT")["open"], rel=1e-12)
    assert filled_sell.filled_price == pytest.approx(current_bar(state, "SPY")["open"], rel=1e-12)
    assert filled_buy.updated_at >= filled_buy.created_at

    portfolio = client.get_portfolio(deployment.id)
    assert dict(portfolio.positions) == {"MSFT": 100.0, "SPY": -40.0}
    expected_cash = CAPITAL - 100.0 * filled_buy.filled_price + 40.0 * filled_sell.filled_price
    assert portfolio.cash == pytest.approx(expected_cash, rel=1e-12)
    closes = state["closes"]
    assert portfolio.equity == pytest.approx(
        expected_cash + 100.0 * closes["MSFT"] - 40.0 * closes["SPY"], rel=1e-12
    )

    later = sim.tick()["state"]["closes"]
    marked = client.get_portfolio(deployment.id)
    assert marked.cash == portfolio.cash
    assert marked.equity == pytest.approx(
        marked.cash + 100.0 * later["MSFT"] - 40.0 * later["SPY"], rel=1e-12
    )


def test_closing_a_position_removes_it(client, sim, deployment):
    client.place_order(order(deployment, "k-open", quantity=7.0))
    sim.tick()
    client.place_order(order(deployment, "k-close", side="sell", quantity=7.0))
    sim.tick()
    assert dict(client.get_portfolio(deployment.id).positions) == {}


def test_limit_orders_fill_only_when_the_price_crosses(client, sim, deployment):
    close = sim.state()["closes"]["MSFT"]
    far_buy = client.place_order(order(deployment, "k-far-buy", type="limit", price=close * 0.5)).order
    far_sell = client.place_order(
        order(deployment, "k-far-sell", side="sell", type="limit", price=close * 2)
    ).order
    eager = client.place_order(order(deployment, "k-eager", type="limit", price=close * 1.5)).order
    state = sim.tick()["state"]
    assert client.get_order(far_buy.id).status == "pending"
    assert client.get_order(far_sell.id).status == "pending"
    filled = client.get_order(eager.id)
    assert filled.status == "filled"
    assert filled.price == close * 1.5
    assert filled.filled_price == pytest.approx(current_bar(state, "MSFT")["open"], rel=1e-12)


def test_cancel_pending_then_filled_is_a_conflict(client, sim, deployment):
    pending = client.place_order(order(deployment, "k-cancel")).order
    cancelled = client.cancel_order(pending.id)
    assert cancelled.status == "cancelled"
    assert cancelled.is_final
    assert client.cancel_order(pending.id).status == "cancelled"
    filled = client.place_order(order(deployment, "k-fill")).order
    tick = sim.tick()
    assert pending.id not in tick["filled"]
    assert client.get_order(pending.id).status == "cancelled"
    with pytest.raises(LiveEngineConflictError) as caught:
        client.cancel_order(filled.id)
    assert caught.value.status == 409
    assert "filled" in caught.value.message
    assert dict(client.get_portfolio(deployment.id).positions) == {"MSFT": 10.0}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"quantity": 0.0}, "quantity"),
        ({"quantity": float("nan")}, "quantity"),
        ({"quantity": True}, "quantity"),
        ({"side": "short"}, "side"),
        ({"type": "stop"}, "type"),
        ({"type": "limit"}, "price"),
        ({"price": -1.0}, "price"),
        ({"symbol": ""}, "symbol"),
        ({"idempotency_key": " "}, "idempotency_key"),
    ],
)
def test_order_requests_check_themselves(changes, field):
    fields = {"symbol": "MSFT", "side": "buy", "quantity": 1.0, "deployment_id": "d", "idempotency_key": "k"}
    with pytest.raises(ValueError, match=f"^{field}: "):
        OrderRequest(**{**fields, **changes})
