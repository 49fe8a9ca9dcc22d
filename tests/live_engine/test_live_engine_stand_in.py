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
def deployment_id(api, sim) -> str:
    response = api.post("/deployments", json={"strategyId": "st-raw", "mode": "paper", "capital": 10_000})
    assert response.status_code == 201
    return response.json()["deployment"]["id"]


def order_body(deployment_id: str | None, **changes) -> dict:
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


def test_orders_have_the_real_layout_and_every_post_makes_a_new_one(api, live_engine, deployment_id):
    body = order_body(deployment_id, type="limit", price=1.5)
    created = api.post("/orders", json=body)
    assert created.status_code == 201
    order = created.json()["order"]
    assert order == {
        "id": "ord-001",
        "providerOrderId": "live-order-ord-001",
        "symbol": "AAPL",
        "side": "buy",
        "type": "limit",
        "quantity": 3,
        "price": 1.5,
        "status": "pending",
        "deploymentId": deployment_id,
        "createdAt": order["createdAt"],
    }
    assert order["createdAt"].endswith("Z") and "." not in order["createdAt"]
    # The key is accepted and ignored: the same body is a second order.
    again = api.post("/orders", json=body)
    assert (again.status_code, again.json()["order"]["id"]) == (201, "ord-002")
    assert [o["id"] for o in api.get("/orders").json()["items"]] == ["ord-001", "ord-002"]
    assert api.get("/orders/live-order-ord-002").json()["order"]["id"] == "ord-002"


def test_an_order_without_a_deployment_or_a_key_is_accepted(api, sim):
    body = order_body(None)
    del body["idempotencyKey"], body["price"]
    response = api.post("/orders", json=body)
    assert response.status_code == 201
    assert response.json()["order"]["deploymentId"] is None


def test_cancel_follows_the_real_store(api, live_engine, deployment_id):
    first = api.post("/orders", json=order_body(deployment_id)).json()["order"]
    cancelled = api.delete(f"/orders/{first['id']}")
    assert (cancelled.status_code, cancelled.json()["order"]["status"]) == (200, "cancelled")
    assert api.delete(f"/orders/{first['id']}").json()["order"]["status"] == "cancelled"
    second = api.post("/orders", json=order_body(deployment_id)).json()["order"]
    httpx.post(f"{live_engine.base_url}/_sim/tick").raise_for_status()
    assert api.get(f"/orders/{second['id']}").json()["order"]["status"] == "filled"
    kept = api.delete(f"/orders/{second['id']}")
    assert (kept.status_code, kept.json()["order"]["status"]) == (200, "filled")
    assert [o["id"] for o in api.get("/orders", params={"status": "filled"}).json()["items"]] == [
        second["id"]
    ]


def test_fills_land_in_the_portfolio_of_the_deployments_mode(api, live_engine, deployment_id):
    listed = api.get("/portfolios").json()["items"]
    assert [p["id"] for p in listed] == ["portfolio-paper-001", "portfolio-live-001"]
    assert listed[0] == {
        "id": "portfolio-paper-001",
        "mode": "paper",
        "cash": 1_000_000.0,
        "totalValue": 1_000_000.0,
        "pnlTotal": 0.0,
        "positions": [],
    }
    api.post("/orders", json=order_body(deployment_id, quantity=10))
    api.post("/orders", json=order_body(deployment_id, quantity=5, symbol="NOPE"))
    tick = httpx.post(f"{live_engine.base_url}/_sim/tick").json()
    assert tick["filled"] == ["ord-001"]
    statuses = {o["symbol"]: o["status"] for o in api.get("/orders").json()["items"]}
    assert statuses == {"AAPL": "filled", "NOPE": "rejected"}
    fill = httpx.get(f"{live_engine.base_url}/_sim/orders").json()["orders"][0]["fillPrice"]
    paper = api.get("/portfolios/portfolio-paper-001").json()["portfolio"]
    close = tick["state"]["closes"]["AAPL"]
    assert paper["cash"] == pytest.approx(1_000_000.0 - 10 * fill)
    assert paper["positions"] == [
        {
            "symbol": "AAPL",
            "quantity": 10,
            "avgPrice": fill,
            "currentPrice": close,
            "unrealizedPnl": pytest.approx((close - fill) * 10),
        }
    ]
    assert paper["totalValue"] == pytest.approx(paper["cash"] + 10 * close)
    assert api.get("/portfolios/portfolio-live-001").json()["portfolio"]["positions"] == []


def test_a_restart_forgets_orders_and_hands_ids_out_again(api, live_engine, deployment_id):
    api.post("/orders", json=order_body(deployment_id))
    assert httpx.post(f"{live_engine.base_url}/_sim/restart").json() == {"forgotten": 1}
    assert api.get("/orders").json() == {"items": []}
    assert api.get("/orders/ord-001").status_code == 404
    assert api.post("/orders", json=order_body(deployment_id)).json()["order"]["id"] == "ord-001"


def test_deployments_follow_the_real_store(api, sim):
    body = {"strategyId": "st", "mode": "live", "capital": 100.0, "idempotencyKey": "same"}
    first = api.post("/deployments", json=body).json()["deployment"]
    assert first == {
        "id": "dep-001",
        "strategyId": "st",
        "mode": "live",
        "status": "queued",
        "capital": 100.0,
        "providerRefId": "live-dep-001",
        "latestPnl": None,
        "createdAt": first["createdAt"],
        "updatedAt": first["updatedAt"],
    }
    assert api.post("/deployments", json=body).json()["deployment"]["id"] == "dep-002"
    stopped = api.post("/deployments/live-dep-001/stop").json()["deployment"]
    assert (stopped["id"], stopped["status"]) == ("dep-001", "stopping")
    assert [d["id"] for d in api.get("/deployments", params={"status": "queued"}).json()["items"]] == [
        "dep-002"
    ]
    assert api.get("/deployments/dep-002").json()["deployment"]["status"] == "queued"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"quantity": 0}, "quantity: Input should be greater than 0"),
        ({"quantity": -2.5}, "quantity: Input should be greater than 0"),
        ({"quantity": "3"}, "quantity: Input should be a valid number"),
        ({"quantity": False}, "quantity: Input should be a valid number"),
        ({"side": "short"}, "side: Input should be 'buy' or 'sell'"),
        ({"type": "stop"}, "type: Input should be 'market' or 'limit'"),
        ({"type": "limit"}, "price: Limit order requires price"),
        ({"price": 0}, "price: Input should be greater than 0"),
        ({"deploymentId": 7}, "deploymentId: Input should be a valid string"),
    ],
)
def test_bad_orders_are_400_naming_the_field(api, deployment_id, changes, message):
    response = api.post("/orders", json=order_body(deployment_id, **changes))
    assert response.status_code == 400
    assert response.json() == {"error": message}


def test_non_finite_quantity_is_refused(api, deployment_id):
    body = order_body(deployment_id)
    text = (
        httpx.Request("POST", "http://x", json=body)
        .content.decode()
        .replace('"quantity":3', '"quantity":NaN')
    )
    response = api.post("/orders", content=text, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json() == {"error": "quantity: Input should be a finite number"}


def test_missing_fields_and_broken_json(api):
    missing = api.post("/orders", json={"symbol": "AAPL"})
    assert missing.status_code == 400
    assert missing.json()["error"].startswith("side: Field required; type: Field required")
    broken = api.post("/orders", content=b'{"symbol": ', headers={"Content-Type": "application/json"})
    assert broken.status_code == 400
    assert broken.json() == {"error": "body: not valid JSON"}


def test_bad_deployments_name_the_field(api):
    body = {"strategyId": "st", "mode": "paper", "capital": 100.0}
    for changes, message in [
        ({"mode": "demo"}, "mode: Input should be 'paper' or 'live'"),
        ({"capital": 0}, "capital: Input should be greater than 0"),
        ({"strategyId": None}, "strategyId: Input should be a valid string"),
    ]:
        response = api.post("/deployments", json={**body, **changes})
        assert (response.status_code, response.json()) == (400, {"error": message})


def test_unknown_resources_are_404_errors(api):
    for path in ("/orders/nope", "/portfolios/nope", "/deployments/nope", "/nothing-here"):
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
        assert http.post("/_sim/tick", params={"n": 0}).status_code == 400


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
        assert control.post("/_sim/faults", json={"status": 503, "malformed": True}).status_code == 400
        control.post("/_sim/faults", json={"status": 502, "method": "POST", "path_prefix": "/orders"})
        assert api.get("/orders").status_code == 200
        assert api.post("/orders", json=order_body(None)).status_code == 502
        control.post("/_sim/faults", json={"status": 500, "count": 5})
        assert len(control.get("/_sim/faults").json()["armed"]) == 1
        control.delete("/_sim/faults")
        assert api.get("/portfolios").status_code == 200


def test_background_ticker_fills_orders():
    with running_live_engine_stand_in(symbols=("AAPL",), initial_bars=30, bar_interval_s=0.1) as running:
        headers = {"Authorization": f"Bearer {running.api_key}"}
        with httpx.Client(base_url=running.base_url, headers=headers) as http:
            deployment = http.post(
                "/api/internal/deployments", json={"strategyId": "s", "mode": "paper", "capital": 1000.0}
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
