"""Deciding many requests in one pass: the same answers as one at a time, errors kept per request."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from datetime import UTC, datetime

import orjson
import pytest
from serving_support import decision_body, settings_for

from nexus_assets.ml.portfolio.policy import PolicyConfig
from nexus_assets.ml.portfolio.risk_gate import RiskLimits, RiskState
from nexus_serving.decisions.idempotency import IdempotencyConflictError
from nexus_serving.decisions.model_views import model_views
from nexus_serving.decisions.pipeline import DecisionFailedError, PendingDecision
from nexus_serving.decisions.policy_step import EngineConfig
from nexus_serving.decisions.request_bars import InvalidInputError, prepare, request_bars
from nexus_serving.main import create_app
from nexus_serving.model_store import load_into
from nexus_serving.risk.held import SharedRisk
from nexus_serving.schemas import DecisionRequest, Portfolio
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
    together = batched.pipeline.decide([PendingDecision(r, batched.store.current) for r in requests])
    alone = [single.pipeline.decide([PendingDecision(r, single.store.current)])[0] for r in requests]

    def comparable(answer: bytes) -> dict:
        return {k: v for k, v in orjson.loads(answer).items() if k not in ("decision_id", "decided_at")}

    assert [comparable(a) for a in together] == [comparable(a) for a in alone]


def test_one_bad_request_does_not_fail_the_others(services, market):
    bundle = services.store.current
    short = request(market, "bad-short", "S1", bars=30)
    answers = services.pipeline.decide(
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
    answers = services.pipeline.decide(
        [PendingDecision(same, bundle), PendingDecision(same, bundle), PendingDecision(other_body, bundle)],
    )
    assert answers[0] == answers[1]
    assert isinstance(answers[2], IdempotencyConflictError)
    assert decisions_made(services) == before + 1


def test_atomic_makes_no_decision_when_one_request_fails(services, market):
    bundle = services.store.current
    before = decisions_made(services)
    answers = services.pipeline.decide(
        [
            PendingDecision(request(market, "at-0", "S0"), bundle),
            PendingDecision(request(market, "at-1", "S1", bars=30), bundle),
        ],
        atomic=True,
    )
    assert isinstance(answers[1], InvalidInputError)
    assert decisions_made(services) == before
    assert services.pipeline.responses.get(request(market, "at-0", "S0")) is None, "nothing stored either"


def _with_signal(original: DecisionRequest, **changes) -> DecisionRequest:
    """``original`` with signal fields the schema would refuse (``model_copy`` does not validate):
    how a fault of ours inside the policy looks to the pipeline."""
    return original.model_copy(update={"signal": original.signal.model_copy(update=changes)})


def _with_portfolio(original: DecisionRequest, **fields) -> DecisionRequest:
    return original.model_copy(update={"portfolio": Portfolio.model_construct(**fields)})


def test_a_request_failing_inside_the_policy_fails_alone(services, market):
    bundle = services.store.current
    broken = _with_signal(request(market, "nan-strength", "S1"), strength=float("nan"))
    answers = services.pipeline.decide(
        [
            PendingDecision(request(market, "pf-0", "S0"), bundle),
            PendingDecision(broken, bundle),
            PendingDecision(request(market, "pf-2", "S2"), bundle),
        ],
    )
    assert isinstance(answers[1], DecisionFailedError) and answers[1].request_id == "nan-strength"
    assert [orjson.loads(answers[i])["request_id"] for i in (0, 2)] == ["pf-0", "pf-2"]
    assert services.pipeline.responses.get(broken) is None


def test_an_equity_too_small_to_divide_by_names_the_position(services, market):
    bundle = services.store.current
    tiny = _with_portfolio(
        request(market, "tiny", "S1"), equity=5e-324, peak_equity=None, positions={"S1": 10.0}
    )
    answers = services.pipeline.decide(
        [PendingDecision(tiny, bundle), PendingDecision(request(market, "tiny-next", "S2"), bundle)]
    )
    assert isinstance(answers[0], InvalidInputError)
    assert answers[0].loc == ("body", "portfolio", "positions", "S1")
    assert orjson.loads(answers[1])["request_id"] == "tiny-next"


def test_atomic_makes_no_decision_when_the_policy_fails_on_a_later_request(services, market):
    bundle = services.store.current
    before = decisions_made(services)
    first = request(market, "late-0", "S0")
    broken = _with_signal(request(market, "late-2", "S2"), strength=float("nan"))
    answers = services.pipeline.decide(
        [
            PendingDecision(first, bundle),
            PendingDecision(request(market, "late-1", "S1"), bundle),
            PendingDecision(broken, bundle),
        ],
        atomic=True,
    )
    assert isinstance(answers[2], DecisionFailedError)
    assert answers[:2] == [None, None], "the requests before it are left undecided"
    assert decisions_made(services) == before
    assert services.pipeline.responses.get(first) is None, "nothing stored either"


def test_an_atomic_failure_moves_no_risk_latch(services, market):
    """A pass's latch moves are stored only when the whole pass succeeds."""
    bundle = services.store.current
    hair_trigger = EngineConfig(policy=PolicyConfig(risk=RiskLimits(anomaly_halt=1e-9, anomaly_resume=1e-9)))
    pipeline = dataclasses.replace(services.pipeline, engine=hair_trigger, risk=SharedRisk())
    broken = _with_signal(request(market, "latch-1", "S1"), strength=float("nan"))
    answers = pipeline.decide(
        [PendingDecision(request(market, "latch-0", "S0"), bundle), PendingDecision(broken, bundle)],
        atomic=True,
    )
    assert isinstance(answers[1], DecisionFailedError)
    assert pipeline.risk.state("S0") == RiskState(anomaly_halted=False)
    (answer,) = pipeline.decide([PendingDecision(request(market, "latch-0", "S0"), bundle)])
    assert orjson.loads(answer)["action"] in ("halt", "reduce", "reject")
    assert pipeline.risk.state("S0") == RiskState(anomaly_halted=True), "a pass that succeeds stores it"
