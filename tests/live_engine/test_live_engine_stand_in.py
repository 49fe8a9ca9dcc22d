"""The stand-in's HTTP contract and process helper, checked over raw HTTP."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid

import httpx
import pytest

from nexus_assets.sim.process import StandInStartError, running_live_engine_stand_in


@pytest.fixture
def api(live_engine):
    headers = {"Authorization": f"Bearer {live_engine.api_key}"}
    with httpx.Client(base_url=f"{live_engine.base_url}/api/internal", headers=headers, timeout=10) as http:
        yield http


@pytest.fixture
def deployment_id(api) -> str:
    body = {"strategyId": "st-raw", "mode": "paper", "capital": 10_000, "idempotencyKey": str(uuid.uuid4())}
    response = api.post("/deployments", json=body)
    assert response.status_code == 201
    return response.json()["deployment"]["id"]


def order_body(deployment_id: str, **changes) -> dict:
    return {
        "symbol": "AAPL",
        "side": "buy",
        "type": "market",
        "quantity": 3,
        "price": None,
        "deploymentId": deployment_id,
        "idempotencyKey": f"raw-{uuid.uuid4()}",
        **changes,
    }


def test_health_needs_no_credentials(live_engine):
    assert httpx.get(f"{live_engine.base_url}/health").json() == {"status": "ok"}


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "missing Authorization header"),
        ({"Authorization": "suite-key"}, "Authorization header is not a bearer token"),
        ({"Authorization": "Basic suite-key"}, "Authorization header is not a bearer token"),
        ({"Authorization": "Bearer wrong"}, "invalid API key"),
    ],
)
def test_bad_credentials_are_401_before_the_body_is_read(live_engine, headers, message):
    response = httpx.post(f"{live_engine.base_url}/api/internal/orders", content=b"{oops", headers=headers)
    assert response.status_code == 401
    assert response.json() == {"error": message}
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert "suite-key" not in response.text


def test_order_layout_and_idempotent_statuses(api, live_engine, deployment_id):
    body = order_body(deployment_id, type="limit", price=1.5)
    created = api.post("/orders", json=body)
    assert created.status_code == 201
    order = created.json()["order"]
    assert set(order) == {
        "id", "status", "symbol", "side", "type", "quantity", "price", "filledQuantity",
        "filledPrice", "deploymentId", "idempotencyKey", "createdAt", "updatedAt",
    }  # fmt: skip
    assert order["createdAt"].endswith("Z")
    replay = api.post("/orders", json=body)
    assert replay.status_code == 200
    assert replay.json() == {"order": order}
    clash = api.post("/orders", json={**body, "price": 1.6})
    assert clash.status_code == 409
    assert body["idempotencyKey"] in clash.json()["error"]
    listed = httpx.get(f"{live_engine.base_url}/_sim/orders").json()["orders"]
    assert [o for o in listed if o["idempotencyKey"] == body["idempotencyKey"]] == [order]


@pytest.mark.parametrize(
    ("changes", "status", "message"),
    [
        ({"quantity": 0}, 422, "quantity: Input should be greater than 0"),
        ({"quantity": -2.5}, 422, "quantity: Input should be greater than 0"),
        ({"quantity": "3"}, 422, "quantity: Input should be a valid number"),
        ({"quantity": False}, 422, "quantity: Input should be a valid number"),
        ({"side": "short"}, 422, "side: Input should be 'buy' or 'sell'"),
        ({"type": "stop"}, 422, "type: Input should be 'market' or 'limit'"),
        ({"type": "limit"}, 422, "price: a limit order needs a price"),
        ({"price": 0}, 422, "price: Input should be greater than 0"),
        ({"symbol": "NOPE"}, 422, "symbol: unknown symbol 'NOPE'"),
        ({"idempotencyKey": ""}, 422, "idempotencyKey: String should have at least 1 character"),
        ({"leverage": 3}, 422, "leverage: Extra inputs are not permitted"),
        ({"deploymentId": "ghost"}, 404, "deployment 'ghost' not found"),
    ],
)
def test_bad_orders_name_the_field(api, deployment_id, changes, status, message):
    response = api.post("/orders", json=order_body(deployment_id, **changes))
    assert response.status_code == status
    assert response.json() == {"error": message}


def test_non_finite_quantity_is_refused(api, deployment_id):
    body = order_body(deployment_id)
    text = (
        httpx.Request("POST", "http://x", json=body)
        .content.decode()
        .replace('"quantity":3', '"quantity":NaN')
    )
    response = api.post("/orders", content=text, headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.json() == {"error": "quantity: Input should be a finite number"}


def test_missing_fields_and_broken_json(api):
    missing = api.post("/orders", json={"symbol": "AAPL"})
    assert missing.status_code == 422
    assert missing.json()["error"].startswith("side: Field required; type: Field required")
    broken = api.post("/orders", content=b'{"symbol": ', headers={"Content-Type": "application/json"})
    assert broken.status_code == 400
    assert broken.json() == {"error": "body: not valid JSON"}


def test_bad_deployments_name_the_field(api):
    body = {"strategyId": "st", "mode": "paper", "capital": 100.0, "idempotencyKey": str(uuid.uuid4())}
    for changes, message in [
        ({"mode": "demo"}, "mode: Input should be 'paper' or 'live'"),
        ({"capital": 0}, "capital: Input should be greater than 0"),
        ({"strategyId": None}, "strategyId: Input should be a valid string"),
    ]:
        response = api.post("/deployments", json={**body, **changes})
        assert (response.status_code, response.json()) == (422, {"error": message})


def test_unknown_resources_are_404_errors(api):
    for path in ("/orders/nope", "/portfolios/nope", "/nothing-here"):
        response = api.get(path)
        assert response.status_code == 404, path
        assert set(response.json()) == {"error"}
    assert api.delete("/orders/nope").status_code == 404


def test_tick_advances_the_bar_clock(live_engine):
    with httpx.Client(base_url=live_engine.base_url) as http:
        before = http.get("/_sim/state").json()["state"]
        after = http.post("/_sim/tick", params={"n": 3}).json()["state"]
        assert after["ticks"] == before["ticks"] + 3
        assert after["bar_index"] == before["bar_index"] + 3
        assert after["bar_time"] > before["bar_time"]
        assert set(after["closes"]) == set(before["closes"])
        assert http.post("/_sim/tick", params={"n": 0}).status_code == 422


def test_faults_hit_only_matching_requests(api, live_engine):
    with httpx.Client(base_url=live_engine.base_url) as control:
        armed = control.post("/_sim/faults", json={"status": 503, "count": 1, "path_prefix": "/orders"})
        assert armed.status_code == 201
        assert api.get("/portfolios").status_code == 200
        failed = api.get("/orders/x")
        assert (failed.status_code, failed.json()) == (503, {"error": "injected fault: HTTP 503"})
        control.post("/_sim/faults", json={"status": 429, "count": 1, "retry_after": 2})
        limited = api.get("/portfolios")
        assert (limited.status_code, limited.headers["Retry-After"]) == (429, "2")
        assert control.post("/_sim/faults", json={"status": 503, "malformed": True}).status_code == 422
        control.post("/_sim/faults", json={"status": 500, "count": 5})
        assert len(control.get("/_sim/faults").json()["armed"]) == 1
        control.delete("/_sim/faults")
        assert api.get("/portfolios").status_code == 200


def test_background_ticker_fills_orders():
    with running_live_engine_stand_in(symbols=("AAPL",), initial_bars=30, bar_interval_s=0.1) as running:
        headers = {"Authorization": f"Bearer {running.api_key}"}
        with httpx.Client(base_url=running.base_url, headers=headers) as http:
            deployment = http.post(
                "/api/internal/deployments",
                json={"strategyId": "s", "mode": "paper", "capital": 1000.0, "idempotencyKey": "k"},
            ).json()["deployment"]
            body = order_body(deployment["id"], quantity=1)
            order = http.post("/api/internal/orders", json=body).json()["order"]
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                status = http.get(f"/api/internal/orders/{order['id']}").json()["order"]["status"]
                if status == "filled":
                    break
                time.sleep(0.05)
            assert status == "filled"
            assert http.get("/_sim/state").json()["state"]["ticks"] >= 1


def test_stand_in_is_gone_after_the_block():
    with running_live_engine_stand_in(symbols=("AAPL",), initial_bars=5) as running:
        assert httpx.get(f"{running.base_url}/health").status_code == 200
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{running.base_url}/health")


def test_a_dying_stand_in_reports_its_output():
    with pytest.raises(StandInStartError, match="initial_bars"), running_live_engine_stand_in(initial_bars=0):
        pass


def test_cli_hands_its_arguments_to_the_stand_in():
    result = subprocess.run(
        [sys.executable, "-m", "nexus_assets.cli", "live-engine-sim", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "--bar-interval" in result.stdout
    assert "--api-key" in result.stdout
