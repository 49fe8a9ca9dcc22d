"""Deciding many requests in one pass: the same answers as one at a time, errors kept per request."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

import orjson
import pytest
from serving_support import decision_body, settings_for

from nexus_serving.decider import PendingDecision, decide_all
from nexus_serving.decision_engine import InvalidInputError, model_views, prepare, request_bars
from nexus_serving.idempotency import IdempotencyConflictError
from nexus_serving.main import create_app
from nexus_serving.model_store import load_into
from nexus_serving.schemas import DecisionRequest
from nexus_serving.services import Services


@pytest.fixture
def make_services(trained_registry, cache_dir, tmp_path) -> Callable[[], Services]:
    """A new app's services with the champions loaded, used in process (no server, no audit)."""

    def make() -> Services:
        settings = settings_for(
            trained_registry, cache_dir, audit_enabled=False, data_dir=str(tmp_path / "data")
        )
        services: Services = create_app(settings).state.services
        load_into(services.store, trained_registry, cache_dir)
        assert services.store.current is not None
        return services

    return make


@pytest.fixture
def services(make_services) -> Services:
    return make_services()


def request(market, request_id: str, symbol: str, **options) -> DecisionRequest:
    return DecisionRequest.model_validate_json(
        json.dumps(decision_body(market, request_id=request_id, symbol=symbol, **options))
    )


def decisions_made(services: Services) -> float:
    return sum(
        sample.value
        for metric in services.metrics.decisions.collect()
        for sample in metric.samples
        if sample.name.endswith("_total")
    )


def test_model_views_of_a_batch_equal_each_request_alone(services, market):
    """The predictor runs once on the batch; every request still gets exactly its own view."""
    bundle = services.store.current
    requests = [request(market, f"mv-{i}", f"S{i}", bars_back=3 * i) for i in range(6)]
    items = [(r, prepare(r, bundle, request_bars(r))) for r in requests]
    now = datetime.now(UTC)
    together = model_views(bundle, items, now)
    alone = [model_views(bundle, [item], now)[0] for item in items]
    assert together == alone
    assert len({view.predicted_return for view in together}) == len(
        items
    )  # different inputs, different views


def test_a_batch_decides_like_requests_one_at_a_time(make_services, market):
    """Two fresh services, one deciding a batch, one deciding the same requests one by one."""
    batched, single = make_services(), make_services()
    requests = [
        request(market, f"b-{i}", f"S{i % 2}", bars_back=i) for i in range(4)
    ]  # shared symbols: latches in order
    together = decide_all(batched, [PendingDecision(r, batched.store.current) for r in requests])
    alone = [decide_all(single, [PendingDecision(r, single.store.current)])[0] for r in requests]

    def comparable(answer: bytes) -> dict:
        return {k: v for k, v in orjson.loads(answer).items() if k not in ("decision_id", "decided_at")}

    assert [comparable(a) for a in together] == [comparable(a) for a in alone]


def test_one_bad_request_does_not_fail_the_others(services, market):
    bundle = services.store.current
    short = request(market, "bad-short", "S1", bars=30)
    answers = decide_all(
        services,
        [
            PendingDecision(request(market, "ok-0", "S0"), bundle),
            PendingDecision(short, bundle),
            PendingDecision(request(market, "ok-2", "S2"), bundle),
        ],
    )
    assert isinstance(answers[1], InvalidInputError) and answers[1].loc == ("body", "bars", "timestamp")
    assert [orjson.loads(answers[i])["request_id"] for i in (0, 2)] == ["ok-0", "ok-2"]


def test_a_repeated_id_in_one_batch_is_decided_once(services, market):
    bundle = services.store.current
    before = decisions_made(services)
    same = request(market, "twice", "S3")
    other_body = request(market, "twice", "S4")  # same id, different request
    answers = decide_all(
        services,
        [PendingDecision(same, bundle), PendingDecision(same, bundle), PendingDecision(other_body, bundle)],
    )
    assert answers[0] == answers[1]
    assert isinstance(answers[2], IdempotencyConflictError)
    assert decisions_made(services) == before + 1


def test_atomic_makes_no_decision_when_one_request_fails(services, market):
    bundle = services.store.current
    before = decisions_made(services)
    answers = decide_all(
        services,
        [
            PendingDecision(request(market, "at-0", "S0"), bundle),
            PendingDecision(request(market, "at-1", "S1", bars=30), bundle),
        ],
        atomic=True,
    )
    assert isinstance(answers[1], InvalidInputError)
    assert decisions_made(services) == before
    assert services.responses.get(request(market, "at-0", "S0")) is None, "nothing stored either"
