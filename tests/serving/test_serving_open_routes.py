"""What the service tells a caller without a token, over real HTTP: that it is up, and no more."""

from __future__ import annotations

import pytest
from serving_support import AUTH, serve, settings_for

WRONG = {"Authorization": "Bearer not-a-token-0123456789"}


def test_liveness_is_open_and_says_nothing(client):
    health = client.get("/health")
    assert health.status_code == 200
    assert health.json() == {"status": "ok"}


def test_readiness_without_a_token_gives_only_its_status(client):
    for headers in ({}, WRONG):
        ready = client.get("/ready", headers=headers)
        assert ready.status_code == 200
        assert ready.json() == {"status": "ready"}
    detailed = client.get("/ready", headers=AUTH).json()
    assert detailed["source"] == "registry"
    assert len(detailed["model_versions"]) == 3


def test_readiness_keeps_why_models_failed_for_token_holders(tmp_path):
    with serve(settings_for(f"sqlite:///{tmp_path / 'empty.db'}", tmp_path / "cache")) as client:
        anonymous = client.get("/ready")
        assert anonymous.status_code == 503
        assert anonymous.json() == {"status": "unavailable"}
        detailed = client.get("/ready", headers=AUTH)
        assert detailed.status_code == 503
        assert "no champion" in detailed.json()["reason"]


def test_metrics_need_the_token(client):
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers=WRONG).status_code == 403
    scrape = client.get("/metrics", headers=AUTH)
    assert scrape.status_code == 200
    assert "nexus_http_requests_total" in scrape.text


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_docs_pages_are_not_served_outside_development(client, path):
    assert client.get(path).status_code == 404
    assert client.get(path, headers=AUTH).status_code == 404


def test_openapi_schema_needs_the_token_outside_development(client):
    assert client.get("/openapi.json").status_code == 401
    schema = client.get("/openapi.json", headers=AUTH)
    assert schema.status_code == 200
    assert "/v1/decisions" in schema.json()["paths"]
    assert "/openapi.json" not in schema.json()["paths"]


def test_docs_are_open_where_they_are_made_public(tmp_path, trained_registry):
    settings = settings_for(trained_registry, tmp_path / "cache", public_api_docs=True, audit_enabled=False)
    with serve(settings) as client:
        assert client.get("/openapi.json").status_code == 200
        assert client.get("/docs").status_code == 200
        assert client.get("/redoc").status_code == 200
        assert client.get("/metrics").status_code == 401
