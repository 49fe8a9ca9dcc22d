"""Shadow challengers: scored beside the champions on every decision, never changing a response."""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path

import pytest
from audit_support import wait_for
from challenger_support import (
    PREDICTOR_SCALE,
    VOLATILITY_SHIFT,
    copy_registry,
    same_anomaly,
    scaled_predictor,
    shifted_volatility,
)
from pydantic import SecretStr
from serving_support import AUTH, decision_body, serve, settings_for

from nexus_assets.ml import registry
from nexus_serving.audit.shadow_table import read_shadow_pairs

PREDICTOR, VOLATILITY = registry.PREDICTOR_MODEL, registry.VOLATILITY_MODEL
VARIABLE = ("decision_id", "decided_at")
"""The only fields of a response that differ between two services deciding the same request."""


def _bodies(market, prefix: str, count: int = 6) -> list[dict]:
    return [
        decision_body(
            market, request_id=f"{prefix}-{i}", symbol=f"S{i % 12}", side=("buy", "sell")[i % 2],
            portfolio={"equity": 1_000_000.0, "positions": {f"S{i % 12}": 50.0}}, bars_back=i,
        )
        for i in range(count)
    ]  # fmt: skip


def _decide_all(settings, bodies: list[dict], shadow_rows: int = 0) -> list[dict]:
    """Each body decided alone, then the last two again in a batch (repeats: the same decisions)."""
    with serve(settings) as client:
        answers = [client.post("/v1/decisions", json=body, headers=AUTH) for body in bodies]
        batch = client.post("/v1/decisions/batch", json={"requests": bodies[-2:]}, headers=AUTH)
        url = settings.audit_database_url.get_secret_value()
        wait_for(lambda: len(read_shadow_pairs(url)) >= shadow_rows, what="the shadow rows")
        metrics = client.get("/metrics", headers=AUTH).text
    assert [a.status_code for a in answers] == [200] * len(bodies) and batch.status_code == 200
    return [a.json() for a in answers] + batch.json()["decisions"] + [{"metrics": metrics}]


def _audit_url(folder: Path) -> str:
    return f"sqlite:///{folder / 'audit.db'}"


def _rows(url: str, table: str, columns: str = "count(*)") -> list[tuple]:
    with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
        return conn.execute(f"SELECT {columns} FROM {table}").fetchall()


@pytest.fixture(scope="module")
def challenged_registry(trained_registry, tmp_path_factory) -> tuple[str, dict[str, str]]:
    """A registry copy whose predictor and volatility model have challengers (the anomaly model none)."""
    folder = tmp_path_factory.mktemp("challenged")
    uri = copy_registry(trained_registry, folder / "registry")
    versions = {
        PREDICTOR: scaled_predictor(uri, folder / "predictor"),
        VOLATILITY: shifted_volatility(uri, folder / "volatility"),
    }
    return uri, versions


def test_a_challenger_never_changes_a_response_and_its_scores_are_audited(
    trained_registry, challenged_registry, market, tmp_path
):
    uri, challengers = challenged_registry
    bodies = _bodies(market, "shadow")
    plain_audit, shadow_audit = tmp_path / "plain", tmp_path / "shadow"
    plain = _decide_all(
        settings_for(
            copy_registry(trained_registry, tmp_path / "plain-registry"), tmp_path / "plain-cache",
            audit_database_url=SecretStr(_audit_url(plain_audit)),
        ),
        bodies,
    )  # fmt: skip
    shadowed = _decide_all(
        settings_for(uri, tmp_path / "shadow-cache", audit_database_url=SecretStr(_audit_url(shadow_audit))),
        bodies,
        shadow_rows=len(bodies),
    )
    for alone, beside in zip(plain[:-1], shadowed[:-1], strict=True):
        assert {k: v for k, v in alone.items() if k not in VARIABLE} == {
            k: v for k, v in beside.items() if k not in VARIABLE
        }
    assert shadowed[0]["model_versions"][PREDICTOR] != challengers[PREDICTOR]

    decisions = {d["decision_id"]: d for d in shadowed[:-1]}
    pairs = read_shadow_pairs(_audit_url(shadow_audit))
    assert {p.decision_id for p in pairs} == set(decisions), "every decision is scored in shadow"
    for pair in pairs:
        answer = decisions[pair.decision_id]
        assert pair.error is None
        assert pair.champion_versions == answer["model_versions"]
        assert pair.challenger_versions == challengers
        assert pair.shadow_versions == {**answer["model_versions"], **challengers}
        assert pair.champion["predicted_return"] == answer["predicted_return"]
        assert pair.champion["target_weight"] == answer["target_weight"]
        assert math.isclose(
            pair.shadow["predicted_return"], PREDICTOR_SCALE * answer["predicted_return"], rel_tol=1e-5
        )
        assert math.isclose(
            pair.shadow["volatility_forecast"], answer["volatility_forecast"] * math.exp(VOLATILITY_SHIFT / 2),
            rel_tol=1e-9,
        )  # fmt: skip
        assert pair.shadow["anomaly_score"] == answer["anomaly_score"], (
            "no anomaly challenger: the champion's"
        )
        assert pair.shadow["action"] is not None and pair.shadow["target_weight"] is not None
    assert any(p.shadow["target_weight"] != p.champion["target_weight"] for p in pairs)
    assert _rows(_audit_url(plain_audit), "decision_shadow") == [(0,)], "no challenger, no shadow rows"
    assert f"nexus_shadow_scored_total {float(len(bodies))}" in shadowed[-1]["metrics"]
    assert len(decisions) == len(bodies), "the batch repeated stored decisions: nothing new to score"


def test_a_challenger_that_cannot_score_leaves_responses_and_audit_rows_intact(
    trained_registry, market, tmp_path
):
    uri = copy_registry(trained_registry, tmp_path / "registry")
    broken = shifted_volatility(uri, tmp_path / "volatility", shift=1e6)  # exp overflows: no finite forecast
    url = _audit_url(tmp_path / "audit")
    bodies = _bodies(market, "broken", 3)
    settings = settings_for(uri, tmp_path / "cache", audit_database_url=SecretStr(url))
    with serve(settings) as client:
        answers = [client.post("/v1/decisions", json=body, headers=AUTH) for body in bodies]
        assert [a.status_code for a in answers] == [200] * 3
        wait_for(lambda: len(read_shadow_pairs(url)) == 3, what="the shadow rows")
        metrics = client.get("/metrics", headers=AUTH).text
    stored = dict(_rows(url, "decision_audit", "decision_id, response"))
    for answer in answers:
        assert stored[answer.json()["decision_id"]] == answer.text, "the champion's audit row is the response"
    for pair in read_shadow_pairs(url):
        assert pair.challenger_versions == {VOLATILITY: broken}
        assert pair.error == "the models give no finite forecast for these bars"
        assert pair.shadow == dict.fromkeys(pair.shadow)
    assert 'nexus_shadow_failed_total{stage="score"} 3.0' in metrics


def test_an_anomaly_challenger_scores_the_champions_own_inputs(trained_registry, market, tmp_path):
    """The champion's files as the anomaly challenger give the champion's score on every decision:
    the inputs kept from the champion decision are the ones it was given."""
    uri = copy_registry(trained_registry, tmp_path / "registry")
    version = same_anomaly(uri, tmp_path / "anomaly")
    url = _audit_url(tmp_path / "audit")
    bodies = _bodies(market, "anomaly", 4)
    answers = _decide_all(settings_for(uri, tmp_path / "cache", audit_database_url=SecretStr(url)), bodies, 4)
    decisions = {d["decision_id"]: d for d in answers[:-1]}
    pairs = read_shadow_pairs(url)
    assert len(pairs) == len(bodies)
    for pair in pairs:
        assert pair.error is None and pair.challenger_versions == {registry.ANOMALY_MODEL: version}
        assert pair.shadow["anomaly_score"] == decisions[pair.decision_id]["anomaly_score"]
        assert pair.shadow["predicted_return"] == decisions[pair.decision_id]["predicted_return"]
