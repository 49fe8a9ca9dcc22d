"""Strict reading of engine JSON: every deviation names its field, extra fields are ignored."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from nexus_assets.live_engine.parse import FieldError, parse_deployment, parse_list, parse_portfolio

PORTFOLIO = {
    "id": "dep-1",
    "cash": 100.5,
    "equity": 250,
    "positions": {"AAPL": 1.5, "SPY": -2},
    "updatedAt": "2026-01-05T21:00:00.000Z",
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


def test_a_valid_portfolio_reads_into_numbers_and_utc_times():
    portfolio = parse_portfolio(PORTFOLIO)
    assert (portfolio.id, portfolio.cash, portfolio.equity) == ("dep-1", 100.5, 250.0)
    assert dict(portfolio.positions) == {"AAPL": 1.5, "SPY": -2.0}
    assert portfolio.updated_at == datetime(2026, 1, 5, 21, tzinfo=UTC)
    with pytest.raises(TypeError):
        portfolio.positions["AAPL"] = 3.0  # type: ignore[index]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"cash": None}, "portfolio.cash"),
        ({"equity": "250"}, "portfolio.equity"),
        ({"positions": [1]}, "portfolio.positions"),
        ({"positions": {"AAPL": "many"}}, "portfolio.positions.AAPL"),
        ({"updatedAt": 5}, "portfolio.updatedAt"),
        ({"id": ""}, "portfolio.id"),
    ],
)
def test_a_bad_portfolio_field_is_named(changes, field):
    with pytest.raises(FieldError) as caught:
        parse_portfolio({**PORTFOLIO, **changes})
    assert caught.value.field == field


def test_deployments_check_mode_and_capital():
    assert parse_deployment(DEPLOYMENT).capital == 1000.0
    with pytest.raises(FieldError, match=r"deployment\.mode: expected one of live, paper"):
        parse_deployment({**DEPLOYMENT, "mode": "demo"})
    with pytest.raises(FieldError, match=r"deployment\.capital: expected a number > 0"):
        parse_deployment({**DEPLOYMENT, "capital": 0})


def test_list_items_are_named_by_index():
    with pytest.raises(FieldError) as caught:
        parse_list([PORTFOLIO, {**PORTFOLIO, "cash": float("inf")}], "portfolios", parse_portfolio)
    assert caught.value.field == "portfolios[1].cash"
    with pytest.raises(FieldError, match="portfolios: expected a list"):
        parse_list({}, "portfolios", parse_portfolio)
