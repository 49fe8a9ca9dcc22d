"""Strict reading of engine JSON: every deviation names its field, extra fields are ignored."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from nexus_assets.live_engine.parse import (
    FieldError,
    parse_deployment,
    parse_list,
    parse_order,
    parse_portfolio,
)

# The real engine's seeded portfolio (``portfolio-paper-001``), plus a member it may add.
PORTFOLIO = {
    "id": "portfolio-paper-001",
    "mode": "paper",
    "cash": 12450.75,
    "totalValue": 20891.12,
    "pnlTotal": 891.12,
    "positions": [
        {
            "symbol": "BTCUSDT",
            "quantity": 0.3,
            "avgPrice": 62000,
            "currentPrice": 64800,
            "unrealizedPnl": 840,
        }
    ],
    "currency": "USD",
}
DEPLOYMENT = {
    "id": "dep-1",
    "strategyId": "st-1",
    "mode": "paper",
    "capital": 1000,
    "status": "running",
    "createdAt": "2026-01-05T21:00:00+00:00",
}


def test_the_real_engines_portfolio_reads():
    portfolio = parse_portfolio(PORTFOLIO)
    assert (portfolio.id, portfolio.mode, portfolio.cash, portfolio.total_value, portfolio.pnl_total) == (
        "portfolio-paper-001",
        "paper",
        12450.75,
        20891.12,
        891.12,
    )
    position = portfolio.positions["BTCUSDT"]
    assert (position.quantity, position.avg_price, position.current_price, position.unrealized_pnl) == (
        0.3,
        62000.0,
        64800.0,
        840.0,
    )
    assert portfolio.quantities == {"BTCUSDT": 0.3}
    assert parse_portfolio({**PORTFOLIO, "pnlTotal": None, "positions": []}).pnl_total is None
    with pytest.raises(TypeError):
        portfolio.positions["AAPL"] = position  # type: ignore[index]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"cash": None}, "portfolio.cash"),
        ({"totalValue": "250"}, "portfolio.totalValue"),
        ({"mode": "demo"}, "portfolio.mode"),
        ({"pnlTotal": "1"}, "portfolio.pnlTotal"),
        ({"positions": {"AAPL": 1.5}}, "portfolio.positions"),
        ({"positions": [1]}, "portfolio.positions[0]"),
        (
            {"positions": [{**PORTFOLIO["positions"][0], "quantity": "many"}]},
            "portfolio.positions[0].quantity",
        ),
        ({"positions": [{**PORTFOLIO["positions"][0], "avgPrice": None}]}, "portfolio.positions[0].avgPrice"),
        ({"positions": [PORTFOLIO["positions"][0]] * 2}, "portfolio.positions[1].symbol"),
        ({"id": ""}, "portfolio.id"),
    ],
)
def test_a_bad_portfolio_field_is_named(changes, field):
    with pytest.raises(FieldError) as caught:
        parse_portfolio({**PORTFOLIO, **changes})
    assert caught.value.field == field


def test_a_portfolio_without_a_required_member_names_it():
    for member in ("id", "mode", "cash", "totalValue", "positions"):
        with pytest.raises(FieldError, match=rf"portfolio\.{member}: is missing"):
            parse_portfolio({k: v for k, v in PORTFOLIO.items() if k != member})


def test_deployments_check_mode_and_capital():
    assert parse_deployment(DEPLOYMENT).capital == 1000.0
    with pytest.raises(FieldError, match=r"deployment\.mode: expected one of live, paper"):
        parse_deployment({**DEPLOYMENT, "mode": "demo"})
    with pytest.raises(FieldError, match=r"deployment\.capital: expected a number > 0"):
        parse_deployment({**DEPLOYMENT, "capital": 0})


def test_list_items_are_named_by_index():
    with pytest.raises(FieldError) as caught:
        parse_list([PORTFOLIO, {**PORTFOLIO, "cash": float("inf")}], "items", parse_portfolio)
    assert caught.value.field == "items[1].cash"
    with pytest.raises(FieldError, match="items: expected a list"):
        parse_list({}, "items", parse_portfolio)


# Payloads as the real Live Engine's internal execution API answers them (its seeded store and
# ``placeOrder``): no fill, key or update fields on an order, a null deployment, a broker id.
REAL_ORDER = {
    "id": "ord-001",
    "providerOrderId": "live-order-001",
    "symbol": "BTCUSDT",
    "side": "buy",
    "type": "limit",
    "quantity": 0.1,
    "price": 64800,
    "status": "pending",
    "deploymentId": "dep-001",
    "createdAt": "2026-02-14T10:02:00Z",
}
REAL_PLACED = {
    "id": "ord-002",
    "providerOrderId": "live-order-ord-002",
    "symbol": "AAPL",
    "side": "sell",
    "type": "market",
    "quantity": 3,
    "price": None,
    "status": "pending",
    "deploymentId": None,
    "createdAt": "2026-02-14T10:05:00Z",
}
REAL_DEPLOYMENT = {
    "id": "dep-001",
    "strategyId": "strat-001",
    "mode": "paper",
    "status": "running",
    "capital": 20000,
    "providerRefId": "live-dep-001",
    "latestPnl": 120.25,
    "createdAt": "2026-02-13T20:00:00Z",
    "updatedAt": "2026-02-14T10:00:00Z",
}


def test_the_real_engines_orders_and_deployments_read():
    order = parse_order(REAL_ORDER)
    assert (order.id, order.provider_order_id, order.price, order.deployment_id) == (
        "ord-001", "live-order-001", 64800.0, "dep-001",
    )  # fmt: skip
    assert order.filled_quantity is None and order.idempotency_key is None and order.updated_at is None
    assert order.created_at == datetime(2026, 2, 14, 10, 2, tzinfo=UTC)
    placed = parse_order(REAL_PLACED)
    assert (placed.deployment_id, placed.price, placed.type) == (None, None, "market")
    listed = parse_list([REAL_ORDER, REAL_PLACED], "items", parse_order)
    assert [o.id for o in listed] == ["ord-001", "ord-002"]
    deployment = parse_deployment(REAL_DEPLOYMENT)
    assert (deployment.provider_ref_id, deployment.latest_pnl) == ("live-dep-001", 120.25)
    assert deployment.updated_at == datetime(2026, 2, 14, 10, tzinfo=UTC)
    assert parse_deployment({**REAL_DEPLOYMENT, "latestPnl": None}).latest_pnl is None


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"providerOrderId": 7}, "order.providerOrderId"),
        ({"deploymentId": ""}, "order.deploymentId"),
        ({"status": "open"}, "order.status"),
        ({"quantity": "0.1"}, "order.quantity"),
        ({"price": -1}, "order.price"),
        ({"createdAt": "yesterday"}, "order.createdAt"),
        ({"filledQuantity": -1}, "order.filledQuantity"),
    ],
)
def test_a_real_order_with_a_wrong_type_names_the_field(changes, field):
    with pytest.raises(FieldError) as caught:
        parse_order({**REAL_ORDER, **changes})
    assert caught.value.field == field


def test_a_real_order_without_its_required_fields_names_them():
    for name in ("id", "symbol", "side", "type", "quantity", "status", "deploymentId", "createdAt"):
        with pytest.raises(FieldError) as caught:
            parse_order({k: v for k, v in REAL_ORDER.items() if k != name})
        assert caught.value.field == f"order.{name}"
    with pytest.raises(FieldError) as caught:
        parse_deployment({**REAL_DEPLOYMENT, "latestPnl": "a lot"})
    assert caught.value.field == "deployment.latestPnl"
