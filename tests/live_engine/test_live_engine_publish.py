"""Publishing allocations to the stand-in: one set of orders per allocation, however often published."""

from __future__ import annotations

import pytest

from nexus_assets.live_engine import plan_orders, publish_allocation

WEIGHTS = {"AAPL": 0.25, "MSFT": 0.25, "SPY": 0.3}


def keys(orders) -> list[str]:
    return sorted(o["idempotencyKey"] for o in orders)


def test_publishing_the_same_allocation_twice_creates_one_set_of_orders(client, sim, deployment):
    prices = sim.state()["closes"]
    first = publish_allocation(
        client, WEIGHTS, prices=prices, allocation_id="alloc-1", deployment_id=deployment.id
    )
    second = publish_allocation(
        client, WEIGHTS, prices=prices, allocation_id="alloc-1", deployment_id=deployment.id
    )

    assert [o.symbol for o in first.created] == ["AAPL", "MSFT", "SPY"]
    assert first.existing == () and first.conflicts == ()
    assert second.created == () and second.conflicts == ()
    assert [o.id for o in second.existing] == [o.id for o in first.created]
    assert second.planned == first.planned
    placed = sim.orders(deployment.id)
    assert keys(placed) == ["alloc-1:AAPL", "alloc-1:MSFT", "alloc-1:SPY"]
    assert sim.stats()["statuses"] == {"200": 5, "201": 3}


def test_orders_fill_to_the_target_weights(client, sim, deployment):
    prices = sim.state()["closes"]
    result = publish_allocation(
        client, WEIGHTS, prices=prices, allocation_id="alloc-2", deployment_id=deployment.id
    )
    assert {o.status for o in result.orders} == {"pending"}
    assert set(sim.tick()["filled"]) >= {o.id for o in result.orders}
    portfolio = client.get_portfolio(deployment.id)
    assert dict(portfolio.positions) == {o.symbol: o.quantity for o in result.orders}
    for symbol, weight in WEIGHTS.items():
        assert portfolio.positions[symbol] == int(weight * deployment.capital / prices[symbol])


def test_republishing_after_fills_never_trades_again(client, sim, deployment):
    prices = sim.state()["closes"]
    first = publish_allocation(
        client, WEIGHTS, prices=prices, allocation_id="alloc-3", deployment_id=deployment.id
    )
    sim.tick()
    filled = client.get_portfolio(deployment.id)
    again = publish_allocation(
        client, WEIGHTS, prices=prices, allocation_id="alloc-3", deployment_id=deployment.id
    )

    assert again.created == ()
    assert len(again.existing) + len(again.conflicts) == len(again.planned)
    assert all("alloc-3:" in message for _, message in again.conflicts)
    assert sorted(o["id"] for o in sim.orders(deployment.id)) == sorted(o.id for o in first.orders)
    sim.tick()
    assert client.get_portfolio(deployment.id).positions == filled.positions


def test_a_publish_that_stopped_part_way_resumes_without_duplicates(client, sim, deployment):
    prices = sim.state()["closes"]
    portfolio = client.get_portfolio(deployment.id)
    planned = plan_orders(
        WEIGHTS,
        portfolio.positions,
        prices,
        portfolio.equity,
        allocation_id="alloc-4",
        deployment_id=deployment.id,
    )
    already = client.place_order(planned[0]).order
    result = publish_allocation(
        client, WEIGHTS, prices=prices, allocation_id="alloc-4", deployment_id=deployment.id
    )
    assert [o.id for o in result.existing] == [already.id]
    assert len(result.created) == len(planned) - 1
    assert len(sim.orders(deployment.id)) == len(planned)


def test_a_new_allocation_closes_what_it_no_longer_holds(client, sim, deployment):
    prices = sim.state()["closes"]
    publish_allocation(client, WEIGHTS, prices=prices, allocation_id="alloc-5a", deployment_id=deployment.id)
    sim.tick()
    prices = sim.state()["closes"]
    result = publish_allocation(
        client, {"MSFT": 0.5}, prices=prices, allocation_id="alloc-5b", deployment_id=deployment.id
    )
    sides = {o.symbol: o.side for o in result.created}
    assert sides == {"AAPL": "sell", "SPY": "sell", "MSFT": "buy"}
    assert [o.side for o in result.created] == ["sell", "sell", "buy"]
    sim.tick()
    assert set(client.get_portfolio(deployment.id).positions) == {"MSFT"}


def test_one_allocation_published_to_two_deployments_trades_both(client, sim, deployment):
    other = client.create_deployment(
        "st-two", mode="paper", capital=deployment.capital, idempotency_key=f"{deployment.id}-twin"
    )
    prices = sim.state()["closes"]
    mine = publish_allocation(
        client, WEIGHTS, prices=prices, allocation_id="alloc-6", deployment_id=deployment.id
    )
    theirs = publish_allocation(
        client, WEIGHTS, prices=prices, allocation_id="alloc-6", deployment_id=other.id
    )
    assert len(mine.created) == len(theirs.created) == 3
    assert not {o.id for o in mine.created} & {o.id for o in theirs.created}


def test_bad_prices_fail_before_anything_is_placed(client, sim, deployment):
    with pytest.raises(ValueError, match="prices: no price for 'SPY'"):
        publish_allocation(
            client,
            WEIGHTS,
            prices={"AAPL": 1.0, "MSFT": 1.0},
            allocation_id="alloc-7",
            deployment_id=deployment.id,
        )
    assert sim.orders(deployment.id) == []
