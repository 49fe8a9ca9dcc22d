"""Freshness of data: a decision on bars older than NEXUS_MAX_BAR_AGE is refused, alone, with the reason."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from serving_support import AUTH, decision_body, serve, settings_for

from nexus_serving.decisions.pipeline import PendingDecision
from nexus_serving.decisions.request_bars import StaleBarsError
from nexus_serving.main import create_app
from nexus_serving.model_store import load_into
from nexus_serving.schemas import DecisionRequest
from nexus_serving.settings import Settings


def aged(body: dict, by: timedelta) -> dict:
    """``body`` with every bar and its signal moved ``by`` into the past."""
    stamps = [
        (datetime.fromisoformat(stamp) - by).isoformat().replace("+00:00", "Z")
        for stamp in body["bars"]["timestamp"]
    ]
    return {
        **body,
        "bars": {**body["bars"], "timestamp": stamps},
        "signal": {**body["signal"], "timestamp": stamps[-1]},
    }


def test_the_limit_is_four_days_by_default_and_zero_turns_it_off(monkeypatch):
    assert Settings(env="development").max_bar_age == timedelta(hours=96)
    monkeypatch.setenv("NEXUS_MAX_BAR_AGE", "PT15M")
    assert Settings(env="development").max_bar_age == timedelta(minutes=15)
    monkeypatch.setenv("NEXUS_MAX_BAR_AGE", "900")
    assert Settings(env="development").max_bar_age == timedelta(minutes=15)
    monkeypatch.setenv("NEXUS_MAX_BAR_AGE", "0")
    assert not Settings(env="development").max_bar_age


def test_stale_bars_are_refused_with_the_reason_and_a_fresh_neighbour_is_decided(
    trained_registry, cache_dir, market, tmp_path
):
    settings = settings_for(
        trained_registry, cache_dir, audit_enabled=False, data_dir=str(tmp_path / "data"),
        max_bar_age=timedelta(hours=6),
    )  # fmt: skip
    services = create_app(settings).state.services
    load_into(services.store, trained_registry, cache_dir)
    bundle = services.store.current
    fresh = decision_body(market, request_id="fresh-1", symbol="S1")
    stale = aged(decision_body(market, request_id="stale-1", symbol="S2"), timedelta(hours=7))
    requests = [DecisionRequest.model_validate_json(json.dumps(body)) for body in (stale, fresh)]
    refused, decided = services.pipeline.decide([PendingDecision(r, bundle) for r in requests])
    assert isinstance(refused, StaleBarsError)
    newest = stale["bars"]["timestamp"][-1]
    assert newest in str(refused) and "6h00m" in str(refused) and "NEXUS_MAX_BAR_AGE" in str(refused)
    assert json.loads(decided)["request_id"] == "fresh-1"
    assert services.metrics.registry.get_sample_value("nexus_stale_bars_total") == 1.0


@pytest.fixture(scope="module")
def strict_client(trained_registry, cache_dir, tmp_path_factory):
    audit = tmp_path_factory.mktemp("freshness-audit") / "audit.db"
    settings = settings_for(
        trained_registry, cache_dir, audit_database_url=f"sqlite:///{audit}", max_bar_age=timedelta(hours=6)
    )
    with serve(settings) as client:
        yield client


def test_a_stale_request_gets_503_naming_the_bar_and_the_limit(strict_client, market):
    body = aged(decision_body(market, request_id="stale-http", symbol="S3"), timedelta(days=2))
    response = strict_client.post("/v1/decisions", json=body, headers=AUTH)
    assert response.status_code == 503
    detail = response.json()["detail"]
    assert detail.startswith("stale bars: the newest bar (") and body["bars"]["timestamp"][-1] in detail
    assert "limit of 6h00m" in detail
    fresh = decision_body(market, request_id="fresh-http", symbol="S3")
    assert strict_client.post("/v1/decisions", json=fresh, headers=AUTH).status_code == 200


def test_a_batch_with_a_stale_item_names_it_and_decides_nothing(strict_client, market):
    bodies = [
        decision_body(market, request_id="batch-fresh", symbol="S4"),
        aged(decision_body(market, request_id="batch-stale", symbol="S5"), timedelta(hours=8)),
    ]
    before = decisions_made(strict_client)
    response = strict_client.post("/v1/decisions/batch", json={"requests": bodies}, headers=AUTH)
    assert response.status_code == 503
    assert response.json()["detail"].startswith("requests[1]: stale bars:")
    assert decisions_made(strict_client) == before, "an atomic batch decides all of its items or none"
    assert strict_client.post("/v1/decisions", json=bodies[0], headers=AUTH).status_code == 200
    assert decisions_made(strict_client) == before + 1


def decisions_made(client) -> float:
    lines = client.get("/metrics", headers=AUTH).text.splitlines()
    return sum(float(line.rpartition(" ")[2]) for line in lines if line.startswith("nexus_decisions_total{"))
