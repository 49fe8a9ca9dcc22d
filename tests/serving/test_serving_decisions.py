"""Decisions over real HTTP equal the offline policy on the same inputs (no train/serve skew)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from serving_support import AUTH, decision_body

from nexus_assets.ml.bars import BAR_SCHEMA, validate_bars
from nexus_assets.ml.features import FEATURE_COLUMNS, compute_features
from nexus_assets.ml.portfolio.policy import PolicyConfig, SignalContext, decide
from nexus_assets.ml.portfolio.risk_gate import RiskState
from nexus_assets.ml.registry.champions import load_champions
from nexus_assets.ml.volatility.inputs import inputs_for_last_bar
from nexus_serving.model_store import registry_client


def _offline(body: dict, trained_registry: str, workdir: Path) -> dict:
    """The same decision computed directly with the shared training/backtest functions."""
    champions = load_champions(registry_client(trained_registry), workdir)
    signal = body["signal"]
    columns = body["bars"]
    frame = pl.DataFrame(
        {
            "symbol": [signal["symbol"]] * len(columns["timestamp"]),
            "timestamp": [datetime.fromisoformat(t) for t in columns["timestamp"]],
            **{c: columns[c] for c in ("open", "high", "low", "close", "volume")},
        },
        schema=BAR_SCHEMA,
    )
    bars = validate_bars(frame, source="test")
    window = champions.window
    # The batch rule: every signal on the symbol, this one included, at the first bar at or after it.
    signals = pl.DataFrame(
        [
            {**s, "symbol": signal["symbol"], "timestamp": datetime.fromisoformat(s["timestamp"])}
            for s in [signal, *body.get("recent_signals", [])]
        ],
        schema={"strategy_id": pl.String, "side": pl.String, "strength": pl.Float64, "symbol": pl.String,
                "timestamp": pl.Datetime("us", "UTC"), "signal_id": pl.String},
    )  # fmt: skip
    features = compute_features(bars, signals).tail(window)
    x = features.select(FEATURE_COLUMNS).to_numpy().astype(np.float32).reshape(1, window, -1)
    predicted = float(champions.predictor.predict(x)[0])
    volatility = math.sqrt(float(champions.volatility.forecast_variance(inputs_for_last_bar(bars))[0]))
    signal_row = {**signal, "timestamp": datetime.fromisoformat(signal["timestamp"])}
    anomaly = champions.anomaly.score(features.tail(1), bars.tail(window), signal_row, datetime.now(UTC))
    decision = decide(
        SignalContext(
            symbol=signal["symbol"],
            side=signal["side"],
            strength=signal["strength"],
            predicted_return=predicted,
            volatility=volatility,
            anomaly_score=anomaly.score,
        ),
        PolicyConfig(),
        RiskState(),
    )
    return {
        "action": decision.action.value,
        "target_weight": decision.target_weight,
        "confidence": decision.confidence,
        "predicted_return": predicted,
        "volatility_forecast": volatility,
        "anomaly_score": anomaly.score,
        "versions": champions.versions,
    }


def test_health_and_ready(client):
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/ready", headers=AUTH)
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"
    assert ready.json()["source"] == "registry"


def test_decision_equals_offline_policy(client, market, trained_registry, tmp_path):
    body = decision_body(market, request_id="skew-1", symbol="S1")
    response = client.post("/v1/decisions", json=body, headers=AUTH)
    assert response.status_code == 200, response.text
    served = response.json()
    expected = _offline(body, trained_registry, tmp_path)
    assert served["action"] in ("execute", "reduce"), served["reasons"]  # the policy itself decided
    assert served["action"] == expected["action"]
    for key in ("target_weight", "confidence", "predicted_return", "volatility_forecast", "anomaly_score"):
        assert served[key] == pytest.approx(expected[key], rel=1e-9, abs=1e-12), key
    assert served["model_versions"] == expected["versions"]
    assert served["quantity"] is None
    assert served["request_id"] == "skew-1"
    assert all(isinstance(reason, str) for reason in served["reasons"])


def test_decision_with_signal_history_equals_the_batch_features_on_the_whole_history(
    client, market, trained_registry, tmp_path
):
    """The signal features (``sig_net_5``, ``sig_net_21``, ``sig_count_21``) are no longer 0 online."""
    body = decision_body(market, request_id="skew-signals", symbol="S2")
    stamps = body["bars"]["timestamp"]
    body["recent_signals"] = [
        {"strategy_id": "st-2", "side": "buy", "strength": 0.6, "timestamp": stamps[-3]},
        {"strategy_id": "st-3", "side": "sell", "strength": 0.4, "timestamp": stamps[-3]},
        {"strategy_id": "st-1", "side": "flat", "strength": 0.8, "timestamp": stamps[-15]},
        {"strategy_id": "st-9", "side": "buy", "strength": 1.0, "timestamp": "1999-01-04T00:00:00Z"},
    ]
    response = client.post("/v1/decisions", json=body, headers=AUTH)
    assert response.status_code == 200, response.text
    served = response.json()
    expected = _offline(body, trained_registry, tmp_path)
    without = _offline({k: v for k, v in body.items() if k != "recent_signals"}, trained_registry, tmp_path)
    assert expected["predicted_return"] != without["predicted_return"], "the history reaches the model"
    assert served["action"] == expected["action"]
    for key in ("target_weight", "confidence", "predicted_return", "volatility_forecast", "anomaly_score"):
        assert served[key] == pytest.approx(expected[key], rel=1e-9, abs=1e-12), key
    again = client.post(
        "/v1/decisions", json={**body, "recent_signals": body["recent_signals"][:2]}, headers=AUTH
    )
    assert again.status_code == 409, "another history under the same request id is another request"


def test_quantity_from_portfolio(client, market):
    body = decision_body(
        market,
        request_id="qty-1",
        symbol="S2",
        portfolio={"equity": 1_000_000.0, "positions": {"S2": 100.0, "S3": -5.0}},
    )
    served = client.post("/v1/decisions", json=body, headers=AUTH).json()
    last_close = body["bars"]["close"][-1]
    assert served["quantity"] == pytest.approx(served["target_weight"] * 1_000_000.0 / last_close - 100.0)


def test_repeated_request_id_returns_the_stored_decision(client, market):
    body = decision_body(market, request_id="idem-1", symbol="S4")
    first = client.post("/v1/decisions", json=body, headers=AUTH).json()
    again = client.post("/v1/decisions", json=body, headers=AUTH).json()
    assert again == first
    other = client.post("/v1/decisions", json={**body, "request_id": "idem-2"}, headers=AUTH).json()
    assert other["decision_id"] != first["decision_id"]


def test_batch(client, market):
    bodies = [decision_body(market, request_id=f"batch-{i}", symbol=f"S{5 + i}") for i in range(3)]
    single = client.post("/v1/decisions", json=bodies[0], headers=AUTH).json()
    response = client.post("/v1/decisions/batch", json={"requests": bodies}, headers=AUTH)
    assert response.status_code == 200, response.text
    decisions = response.json()["decisions"]
    assert [d["request_id"] for d in decisions] == ["batch-0", "batch-1", "batch-2"]
    assert decisions[0] == single


def test_batch_names_the_bad_item(client, market):
    good = decision_body(market, request_id="bb-0", symbol="S8")
    short = decision_body(market, request_id="bb-1", symbol="S8", bars=50)
    response = client.post("/v1/decisions/batch", json={"requests": [good, short]}, headers=AUTH)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][:3] == ["body", "requests", 1]


def test_models_endpoint(client):
    response = client.get("/v1/models", headers=AUTH)
    assert response.status_code == 200
    data = response.json()
    names = {m["name"] for m in data["models"]}
    assert names == {"trade-nexus-predictor", "trade-nexus-volatility", "trade-nexus-anomaly"}
    for model in data["models"]:
        assert model["version"] == "1"
        assert model["alias"] == "champion"
        assert model["source"] == "registry"
        assert model["window"] == data["window"] > 0
        assert model["age_days"] >= 0
        # Simulated bars end years ago, so these models are stale by any 30-day limit.
        assert model["stale"] is True
    assert data["bars_required"] > data["window"]


def test_stale_models_add_a_reason(client, market):
    served = client.post(
        "/v1/decisions", json=decision_body(market, request_id="stale-1"), headers=AUTH
    ).json()
    assert any(reason.startswith("STALE_MODEL") for reason in served["reasons"])


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"Authorization": "Basic abc"}, 401),
        ({"Authorization": "Bearer wrong-token"}, 403),
        ({"Authorization": "Bearer another-token-abcdefghijkl"}, 200),
    ],
)
def test_auth(client, market, headers, status):
    body = decision_body(market, request_id=f"auth-{status}-{len(headers)}", symbol="S9")
    response = client.post("/v1/decisions", json=body, headers=headers)
    assert response.status_code == status
    if status == 401:
        assert response.headers["www-authenticate"] == "Bearer"
    assert "wrong-token" not in response.text
    assert client.get("/v1/models", headers=headers).status_code == status


def test_metrics_count_requests_decisions_and_versions(client, market):
    body = decision_body(market, request_id="metrics-1", symbol="S2")
    decided = client.post("/v1/decisions", json=body, headers=AUTH).json()
    client.post("/v1/decisions", json=body, headers={"Authorization": "Bearer wrong-token-0000000"})
    scrape = client.get("/metrics", headers=AUTH)
    assert scrape.status_code == 200
    assert scrape.headers["content-type"].startswith("text/plain")
    text = scrape.text
    counted = {
        line.split(" ")[0]: float(line.split(" ")[1])
        for line in text.splitlines()
        if line and not line.startswith("#")
    }
    assert counted[f'nexus_decisions_total{{action="{decided["action"]}"}}'] >= 1
    assert counted['nexus_http_requests_total{method="POST",route="/v1/decisions",status="200"}'] >= 1
    assert counted['nexus_http_requests_total{method="POST",route="/v1/decisions",status="403"}'] >= 1
    assert counted['nexus_http_request_duration_seconds_count{route="/v1/decisions"}'] >= 2
    versions = [k for k in counted if k.startswith("nexus_model_version_info{")]
    assert len(versions) == 3
    assert all(counted[k] == 1.0 for k in versions)


def test_other_methods_and_paths_of_the_decision_route_keep_fastapis_answers(client, market):
    """The decision route is dispatched directly; what it does not take still gets routing's answer."""
    wrong_method = client.get("/v1/decisions", headers=AUTH)
    assert wrong_method.status_code == 405
    assert wrong_method.headers["allow"] == "POST"
    body = decision_body(market, request_id="slash-1", symbol="S3")
    slashed = client.post("/v1/decisions/", json=body, headers=AUTH, follow_redirects=False)
    assert slashed.status_code in (307, 404)
    assert client.post("/v1/decisions", json=body, headers=AUTH).status_code == 200


def test_openapi_documents_the_bodies_the_routes_read_themselves(client):
    schema = client.get("/openapi.json", headers=AUTH).json()
    components = schema["components"]["schemas"]
    assert {"DecisionRequest", "BatchRequest", "Bars", "Signal", "Portfolio"} <= set(components)
    for path, model in (("/v1/decisions", "DecisionRequest"), ("/v1/decisions/batch", "BatchRequest")):
        body = schema["paths"][path]["post"]["requestBody"]
        assert body["required"] is True
        assert body["content"]["application/json"]["schema"] == {"$ref": f"#/components/schemas/{model}"}
    assert components["BatchRequest"]["properties"]["requests"]["items"] == {
        "$ref": "#/components/schemas/DecisionRequest"
    }
