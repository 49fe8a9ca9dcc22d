"""GET /v1/allocations/latest over HTTP: 404 before the first allocation, then the stored one."""

from __future__ import annotations

import os

import polars as pl
import pytest
from serving_support import AUTH, serve, settings_for, store_asset

from nexus_assets.allocation_record import ASSET_FILE, allocation_id

AS_OF = "2026-11-25 21:00:00+00:00"


def allocation_table(weights: dict[str, float]) -> pl.DataFrame:
    """A table with the columns the portfolio_allocation asset writes."""
    n = len(weights)
    return pl.DataFrame(
        {
            "symbol": list(weights),
            "target_weight": list(weights.values()),
            "desired_weight": [w * 1.1 for w in weights.values()],
            "current_weight": [0.0] * n,
            "action": ["execute"] * (n - 1) + ["reject"],
            "confidence": [0.7] * n,
            "reason_codes": ["OK"] * (n - 1) + ["ANOMALY_HALT,LOW_CONFIDENCE"],
            "reasons": ["sized to target volatility"] * (n - 1) + ["anomaly score 0.99"],
            "signal_id": [f"sig-{i}" for i in range(n - 1)] + [None],
            "predicted_return": [0.001] * n,
            "volatility_forecast": [0.012] * n,
            "anomaly_score": [0.2] * (n - 1) + [0.99],
            "price": [100.0] * n,
            "as_of": [AS_OF] * n,
        }
    )


@pytest.fixture
def app(trained_registry, cache_dir, tmp_path):
    with serve(settings_for(trained_registry, cache_dir, data_dir=str(tmp_path / "data"))) as client:
        yield client, tmp_path / "data"


def test_latest_allocation_follows_the_stored_asset(app):
    client, data_dir = app
    missing = client.get("/v1/allocations/latest", headers=AUTH)
    assert missing.status_code == 404
    assert "portfolio_allocation" in missing.json()["detail"]

    weights = {"S0": 0.2, "S1": -0.1, "S2": 0.0}
    store_asset(allocation_table(weights), data_dir, ASSET_FILE)
    body = client.get("/v1/allocations/latest", headers=AUTH).json()
    assert body["allocation_id"] == allocation_id(AS_OF, weights)
    assert body["as_of"].startswith("2026-11-25T21:00:00")
    assert body["gross_exposure"] == pytest.approx(0.3)
    assert body["net_exposure"] == pytest.approx(0.1)
    assert [line["symbol"] for line in body["lines"]] == ["S0", "S1", "S2"]
    assert body["lines"][2]["reason_codes"] == ["ANOMALY_HALT", "LOW_CONFIDENCE"]
    assert body["lines"][2]["signal_id"] is None

    newer = {"S0": 0.05, "S1": 0.05, "S2": 0.05}
    store_asset(allocation_table(newer), data_dir, ASSET_FILE)
    os.utime(data_dir / ASSET_FILE, (1e9 + 5, 1e9 + 5))  # a different mtime even on coarse clocks
    assert client.get("/v1/allocations/latest", headers=AUTH).json()["allocation_id"] == allocation_id(
        AS_OF, newer
    )


def test_a_broken_stored_allocation_is_a_503_naming_the_column(app):
    client, data_dir = app
    store_asset(allocation_table({"S0": 0.1, "S1": 0.0}).drop("price"), data_dir, ASSET_FILE)
    response = client.get("/v1/allocations/latest", headers=AUTH)
    assert response.status_code == 503
    assert "'price'" in response.json()["detail"]
    assert client.get("/health").status_code == 200


def test_latest_allocation_needs_a_token(app):
    client, _ = app
    assert client.get("/v1/allocations/latest").status_code == 401
