"""One authentication step for every protected route, applied by the routers' dependencies."""

from __future__ import annotations

import pytest
from fastapi import Request
from serving_support import AUTH, decision_body, serve_app, settings_for

from nexus_serving.deps import ServicesDep, require_token
from nexus_serving.main import create_app
from nexus_serving.routers import decisions

PROTECTED = [
    ("POST", "/v1/decisions"),
    ("POST", "/v1/decisions/batch"),
    ("GET", "/v1/models"),
    ("GET", "/v1/allocations/latest"),
]


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_every_protected_route_refuses_a_missing_or_unknown_token(client, method, path):
    assert client.request(method, path).status_code == 401
    assert client.request(method, path, headers={"Authorization": "Bearer not-a-token"}).status_code == 403


def test_the_token_is_checked_before_a_body_is_read(client):
    """A caller without a token is refused for its headers alone: its body is never parsed."""
    answer = client.post("/v1/decisions", content=b"{not json", headers={"Content-Type": "application/json"})
    assert answer.status_code == 401


def test_every_decision_route_runs_the_decisions_routers_dependencies(
    trained_registry, cache_dir, tmp_path, market
):
    """The router's dependencies reach both decision routes of the assembled app: no route
    is dispatched past them. Overriding the router's token dependency with a recording one
    (FastAPI's ``dependency_overrides``) shows it running for each call."""
    settings = settings_for(trained_registry, cache_dir, audit_enabled=False, data_dir=str(tmp_path / "data"))
    assert {route.path for route in decisions.router.routes} == {"/v1/decisions", "/v1/decisions/batch"}
    assert [d.dependency for d in decisions.router.dependencies] == [require_token]
    app = create_app(settings)

    seen: list[str] = []

    async def recording(request: Request, services: ServicesDep) -> None:
        seen.append(request.url.path)
        await require_token(services, request.headers.get("authorization"))

    app.dependency_overrides[require_token] = recording
    with serve_app(app) as running:
        one = decision_body(market, request_id="dep-1", symbol="S1")
        two = decision_body(market, request_id="dep-2", symbol="S2")
        assert running.post("/v1/decisions", json=one, headers=AUTH).status_code == 200
        assert running.post("/v1/decisions/batch", json={"requests": [two]}, headers=AUTH).status_code == 200
        assert running.post("/v1/decisions", json=one).status_code == 401
    assert seen == ["/v1/decisions", "/v1/decisions/batch", "/v1/decisions"]
