"""Strategy code when Lona's lists omit it: read from ``GET /strategies/{id}/code``."""

from __future__ import annotations

import httpx
import pytest

from nexus_assets.lona import LonaNotFoundError


def raw_strategies(stand_in) -> list[dict]:
    headers = {"X-API-Key": stand_in.token, "X-User-Id": stand_in.user_id}
    page = httpx.get(f"{stand_in.base_url}/strategies", params={"limit": 100}, headers=headers)
    return page.raise_for_status().json()["data"]["items"]


def test_listed_strategies_get_their_code_from_the_code_endpoint(client, sim, lona_stand_in):
    inline = {s["id"]: s["code"] for s in client.list_strategies()}
    assert sim.stats()["paths"].get("GET /api/v1/strategies/" + next(iter(inline)) + "/code") is None

    sim.forms(strategy_code="endpoint")
    assert all("code" not in s for s in raw_strategies(lona_stand_in))
    listed = client.list_strategies()
    assert {s["id"]: s["code"] for s in listed} == inline
    assert all("bt.Strategy" in s["code"] for s in listed)
    assert all(sim.attempts("GET", f"/strategies/{sid}/code") == 1 for sid in inline)


def test_one_strategy_gets_its_code_too(client, sim):
    sid = client.list_strategies()[0]["id"]
    sim.forms(strategy_code="endpoint")
    strategy = client.get_strategy(sid)
    assert strategy["code"] == client.get_strategy_code(sid)
    assert "bt.Strategy" in strategy["code"]
    assert sim.attempts("GET", f"/strategies/{sid}/code") == 2


def test_code_of_an_unknown_strategy_is_not_found(client):
    with pytest.raises(LonaNotFoundError) as caught:
        client.get_strategy_code("no-such-strategy")
    assert caught.value.path == "/strategies/no-such-strategy/code"
