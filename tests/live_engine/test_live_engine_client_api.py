"""The client's resources end to end against a real stand-in process: orders, fills, portfolios."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from nexus_assets.live_engine import LiveEngineNotFoundError, OrderRequest
from nexus_assets.lona.wire import parse_time
from nexus_assets.sim.market import MarketSimConfig, simulate_market, start_for_end

CAPITAL = 1_000_000.0


def order(deployment, key: str, **changes) -> OrderRequest:
    fields = {
        "symbol": "MSFT",
        "side": "buy",
        "quantity": 10.0,
        "deployment_id": deployment.id,
        "client_key": key,
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


def fill_price(sim, order_id: str) -> float:
    """What the stand-in filled an order at (the engine's own order carries no fill price)."""
    return next(o["fillPrice"] for o in sim.orders() if o["id"] == order_id)


def test_portfolios_are_their_own_records(client, deployment):
    assert (deployment.mode, deployment.capital, deployment.status) == ("paper", CAPITAL, "queued")
    assert deployment.provider_ref_id == f"live-{deployment.id}"
    assert [(p.id, p.mode) for p in client.list_portfolios()] == [
        ("portfolio-paper-001", "paper"),
        ("portfolio-live-001", "live"),
    ]
    portfolio = client.get_portfolio("portfolio-paper-001")
    assert (portfolio.cash, portfolio.total_value, portfolio.pnl_total, dict(portfolio.positions)) == (
        CAPITAL,
        CAPITAL,
        0.0,
        {},
    )
    with pytest.raises(LiveEngineNotFoundError):
        client.get_portfolio(deployment.id)


def test_every_deployment_post_makes_a_new_one(client, sim):
    first = client.create_deployment("st", mode="live", capital=5000.0)
    again = client.create_deployment("st", mode="live", capital=5000.0)
    assert first.id != again.id
    assert [d.id for d in client.list_deployments()] == [first.id, again.id]
    stopped = client.stop_deployment(first.id)
    assert stopped.status == "stopping"
    assert client.get_deployment(first.provider_ref_id).status == "stopping"
    assert [d.id for d in client.list_deployments(status="queued")] == [again.id]


def test_placed_order_is_pending_until_the_next_bar(client, sim, deployment):
    before = datetime.now(UTC) - timedelta(seconds=1)
    placed = client.place_order(order(deployment, "k-pending"))
    assert (placed.status, placed.symbol, placed.side, placed.type) == ("pending", "MSFT", "buy", "market")
    assert (placed.quantity, placed.price, placed.filled_quantity, placed.idempotency_key) == (
        10.0,
        None,
        None,
        None,
    )
    assert placed.deployment_id == deployment.id
    assert placed.provider_order_id == f"live-order-{placed.id}"
    assert placed.created_at >= before.replace(microsecond=0)
    assert not placed.is_final
    assert client.get_order(placed.id) == placed
    assert client.get_order(placed.provider_order_id) == placed
    assert client.list_orders() == [placed]
    assert client.list_orders(status="filled") == []
    assert client.get_portfolio("portfolio-paper-001").cash == CAPITAL


def test_the_same_request_twice_is_two_orders(client, sim, deployment):
    first = client.place_order(order(deployment, "k-twice"))
    second = client.place_order(order(deployment, "k-twice"))
    assert first.id != second.id
    assert sim.stats()["statuses"] == {"201": 2}
    assert len(sim.orders(deployment.id)) == 2


def test_market_orders_fill_at_the_next_open_and_move_the_portfolio(client, sim, deployment):
    buy = client.place_order(order(deployment, "k-buy", symbol="MSFT", quantity=100.0))
    sell = client.place_order(order(deployment, "k-sell", symbol="SPY", side="sell", quantity=40.0))
    tick = sim.tick()
    assert {buy.id, sell.id} <= set(tick["filled"])
    state = tick["state"]
    filled_buy, filled_sell = client.get_order(buy.id), client.get_order(sell.id)
    assert filled_buy.status == filled_sell.status == "filled"
    assert filled_buy.is_final
    buy_price, sell_price = fill_price(sim, buy.id), fill_price(sim, sell.id)
    assert buy_price == pytest.approx(current_bar(state, "MSFT")["open"], rel=1e-12)
    assert sell_price == pytest.approx(current_bar(state, "SPY")["open"], rel=1e-12)

    portfolio = client.get_portfolio("portfolio-paper-001")
    assert portfolio.quantities == {"MSFT": 100.0, "SPY": -40.0}
    assert portfolio.positions["MSFT"].avg_price == buy_price
    expected_cash = CAPITAL - 100.0 * buy_price + 40.0 * sell_price
    assert portfolio.cash == pytest.approx(expected_cash, rel=1e-12)
    closes = state["closes"]
    assert portfolio.total_value == pytest.approx(
        expected_cash + 100.0 * closes["MSFT"] - 40.0 * closes["SPY"], rel=1e-12
    )
    assert portfolio.pnl_total == pytest.approx(portfolio.total_value - CAPITAL)

    later = sim.tick()["state"]["closes"]
    marked = client.get_portfolio("portfolio-paper-001")
    assert marked.cash == portfolio.cash
    assert marked.positions["MSFT"].current_price == later["MSFT"]
    assert marked.total_value == pytest.approx(
        marked.cash + 100.0 * later["MSFT"] - 40.0 * later["SPY"], rel=1e-12
    )


def test_closing_a_position_removes_it(client, sim, deployment):
    client.place_order(order(deployment, "k-open", quantity=7.0))
    sim.tick()
    client.place_order(order(deployment, "k-close", side="sell", quantity=7.0))
    sim.tick()
    assert dict(client.get_portfolio("portfolio-paper-001").positions) == {}


def test_limit_orders_fill_only_when_the_price_crosses(client, sim, deployment):
    close = sim.state()["closes"]["MSFT"]
    far_buy = client.place_order(order(deployment, "k-far-buy", type="limit", price=close * 0.5))
    far_sell = client.place_order(order(deployment, "k-far-sell", side="sell", type="limit", price=close * 2))
    eager = client.place_order(order(deployment, "k-eager", type="limit", price=close * 1.5))
    state = sim.tick()["state"]
    assert client.get_order(far_buy.id).status == "pending"
    assert client.get_order(far_sell.id).status == "pending"
    filled = client.get_order(eager.id)
    assert filled.status == "filled"
    assert filled.price == close * 1.5
    assert fill_price(sim, eager.id) == pytest.approx(current_bar(state, "MSFT")["open"], rel=1e-12)


def test_cancel_pending_then_a_filled_order_stays_filled(client, sim, deployment):
    pending = client.place_order(order(deployment, "k-cancel"))
    cancelled = client.cancel_order(pending.id)
    assert cancelled.status == "cancelled"
    assert cancelled.is_final
    assert client.cancel_order(pending.id).status == "cancelled"
    filled = client.place_order(order(deployment, "k-fill"))
    tick = sim.tick()
    assert pending.id not in tick["filled"]
    assert client.get_order(pending.id).status == "cancelled"
    assert client.cancel_order(filled.id).status == "filled"
    assert client.get_portfolio("portfolio-paper-001").quantities == {"MSFT": 10.0}


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
        ({"client_key": " "}, "client_key"),
    ],
)
def test_order_requests_check_themselves(changes, field):
    fields = {"symbol": "MSFT", "side": "buy", "quantity": 1.0, "deployment_id": "d", "client_key": "k"}
    with pytest.raises(ValueError, match=f"^{field}: "):
        OrderRequest(**{**fields, **changes})
