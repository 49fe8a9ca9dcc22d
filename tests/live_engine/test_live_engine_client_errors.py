"""Every failure mode of the client against a real stand-in process, with attempt counts."""

from __future__ import annotations

import time

import orjson
import pytest

from nexus_assets.live_engine import (
    LiveEngineAuthError,
    LiveEngineClient,
    LiveEngineConfigError,
    LiveEngineConnectionError,
    LiveEngineError,
    LiveEngineNotFoundError,
    LiveEngineProtocolError,
    LiveEngineRateLimitError,
    LiveEngineServerError,
    LiveEngineValidationError,
    OrderRequest,
)
from nexus_assets.sim.process import free_port


def fast_client(stand_in, *, api_key=None, **options) -> LiveEngineClient:
    settings = {
        "timeout_s": 5.0,
        "max_attempts": 3,
        "backoff_base_s": 0.01,
        "backoff_max_s": 0.05,
        **options,
    }
    return LiveEngineClient(stand_in.base_url, api_key or stand_in.api_key, **settings)


def order(deployment, key: str, **changes) -> OrderRequest:
    fields = {
        "symbol": "AAPL",
        "side": "buy",
        "quantity": 5.0,
        "deployment_id": deployment.id,
        "client_key": key,
        **changes,
    }
    return OrderRequest(**fields)


def test_wrong_key_is_a_401_auth_error_without_retry(live_engine, sim):
    engine = fast_client(live_engine, api_key="not-the-key")
    with engine, pytest.raises(LiveEngineAuthError) as caught:
        engine.list_portfolios()
    error = caught.value
    assert error.status == 401
    assert error.message == "invalid API key"
    assert str(error) == "GET /portfolios HTTP 401: invalid API key"
    assert "not-the-key" not in str(error)
    assert sim.attempts("GET", "/portfolios") == 1


def test_forbidden_is_an_auth_error_and_an_echoed_key_is_scrubbed(client, sim, live_engine):
    echo = orjson.dumps({"error": f"key {live_engine.api_key} may not trade"}).decode()
    sim.arm(status=403, count=1, path_prefix="/portfolios", body=echo)
    with pytest.raises(LiveEngineAuthError) as caught:
        client.list_portfolios()
    assert caught.value.status == 403
    assert caught.value.message == "key *** may not trade"
    assert live_engine.api_key not in str(caught.value)
    assert live_engine.api_key not in repr(client)
    assert sim.attempts("GET", "/portfolios") == 1


def test_unknown_ids_are_not_found_without_retry(client, sim, deployment):
    with pytest.raises(LiveEngineNotFoundError) as caught:
        client.get_order("no-such-order")
    assert caught.value.status == 404
    assert caught.value.message == "Order not found"
    assert caught.value.path == "/orders/no-such-order"
    assert sim.attempts("GET", "/orders/no-such-order") == 1
    with pytest.raises(LiveEngineNotFoundError):
        client.get_portfolio("ghost")
    with pytest.raises(LiveEngineNotFoundError):
        client.get_deployment("ghost")
    with pytest.raises(LiveEngineNotFoundError):
        client.cancel_order("no-such-order")


def test_a_bad_order_is_a_400_validation_error_without_retry(client, sim, deployment):
    sim.arm(
        status=400,
        count=1,
        method="POST",
        path_prefix="/orders",
        body='{"error": "Missing required order fields"}',
    )
    with pytest.raises(LiveEngineValidationError) as caught:
        client.place_order(order(deployment, "k-refused"))
    assert (caught.value.status, caught.value.message) == (400, "Missing required order fields")
    assert sim.attempts("POST", "/orders") == 1
    assert sim.orders(deployment.id) == []


def test_rate_limited_order_is_retried_and_placed_once(client, sim, deployment):
    sim.arm(status=429, count=2, path_prefix="/orders")
    placed = client.place_order(order(deployment, "k-429"))
    assert sim.attempts("POST", "/orders") == 3
    assert sim.stats()["statuses"] == {"429": 2, "201": 1}
    assert [o["id"] for o in sim.orders(deployment.id)] == [placed.id]


def test_rate_limit_exhausted_raises_with_the_engines_message(client, sim, deployment, max_attempts):
    sim.arm(status=429, count=10, path_prefix="/orders")
    with pytest.raises(LiveEngineRateLimitError) as caught:
        client.place_order(order(deployment, "k-429-exhausted"))
    assert caught.value.status == 429
    assert caught.value.message == "injected fault: HTTP 429"
    assert sim.attempts("POST", "/orders") == max_attempts
    assert sim.orders(deployment.id) == []


def test_retry_after_is_honoured(live_engine, sim):
    sim.arm(status=429, count=2, retry_after=0.3, path_prefix="/portfolios")
    with fast_client(live_engine, backoff_base_s=0.001, backoff_max_s=2.0) as engine:
        started = time.monotonic()
        engine.list_portfolios()
        assert time.monotonic() - started >= 0.6
    assert sim.attempts("GET", "/portfolios") == 3


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_on_a_read_are_retried(client, sim, deployment, status):
    sim.arm(status=status, count=2, path_prefix="/orders")
    assert client.list_orders() == []
    assert sim.stats()["statuses"] == {str(status): 2, "200": 1}


@pytest.mark.parametrize("status", [500, 502, 503])
def test_a_server_error_on_an_order_is_not_sent_again(client, sim, deployment, status):
    """After a 5xx the order may exist (a proxy's 502 after the engine answered): a second POST
    could be a second order, so the error goes to the caller, whose ledger reconciles."""
    sim.arm(status=status, count=2, method="POST", path_prefix="/orders")
    with pytest.raises(LiveEngineServerError):
        client.place_order(order(deployment, f"k-{status}"))
    assert sim.attempts("POST", "/orders") == 1


def test_server_error_exhausted_raises(client, sim, max_attempts):
    sim.arm(status=503, count=10, path_prefix="/portfolios", body="upstream unavailable")
    with pytest.raises(LiveEngineServerError) as caught:
        client.list_portfolios()
    assert caught.value.status == 503
    assert caught.value.message == "upstream unavailable"
    assert sim.attempts("GET", "/portfolios") == max_attempts


def test_non_json_body_is_a_protocol_error_without_retry(client, sim, deployment):
    sim.arm(malformed=True, count=5, path_prefix="/orders")
    with pytest.raises(LiveEngineProtocolError) as caught:
        client.place_order(order(deployment, "k-garbled"))
    assert caught.value.status == 200
    assert "not JSON" in caught.value.message
    assert sim.attempts("POST", "/orders") == 1


def test_missing_member_is_a_protocol_error_naming_it(client, sim, deployment):
    sim.arm(malformed=True, count=1, path_prefix="/portfolios", body='{"data": {}}')
    with pytest.raises(LiveEngineProtocolError) as caught:
        client.get_portfolio("portfolio-paper-001")
    assert caught.value.field == "portfolio"
    sim.arm(malformed=True, count=1, path_prefix="/orders", body='{"orders": []}')
    with pytest.raises(LiveEngineProtocolError) as caught:
        client.list_orders()
    assert caught.value.field == "items"


def test_bad_field_is_a_protocol_error_naming_it(client, sim, deployment):
    placed = client.place_order(order(deployment, "k-field"))
    shown = next(o for o in sim.orders(deployment.id) if o["id"] == placed.id)
    raw = {k: v for k, v in shown.items() if k != "fillPrice"}  # the engine's own layout
    for field, value in [
        ("quantity", "ten"),
        ("status", "done"),
        ("filledQuantity", True),
        ("providerOrderId", 3),
        ("createdAt", "x"),
    ]:
        sim.arm(
            malformed=True,
            count=1,
            path_prefix="/orders",
            body=orjson.dumps({"order": {**raw, field: value}}).decode(),
        )
        with pytest.raises(LiveEngineProtocolError) as caught:
            client.get_order(placed.id)
        assert caught.value.field == f"order.{field}"
        assert f"order.{field}" in str(caught.value)
    missing = {k: v for k, v in raw.items() if k != "deploymentId"}
    sim.arm(malformed=True, count=1, path_prefix="/orders", body=orjson.dumps({"order": missing}).decode())
    with pytest.raises(LiveEngineProtocolError, match=r"order\.deploymentId: is missing"):
        client.get_order(placed.id)
    listed = orjson.dumps({"items": [raw, {**raw, "side": "hold"}]}).decode()
    sim.arm(malformed=True, count=1, method="GET", path_prefix="/orders", body=listed)
    with pytest.raises(LiveEngineProtocolError) as caught:
        client.list_orders()
    assert caught.value.field == "items[1].side"


def test_a_timed_out_order_is_not_sent_again(live_engine, sim, deployment):
    """The lost answer's order exists: the client says so (``request_sent``) instead of retrying."""
    sim.arm(delay_s=1.0, count=1, path_prefix="/orders")
    with (
        fast_client(live_engine, timeout_s=0.3) as engine,
        pytest.raises(LiveEngineConnectionError) as caught,
    ):
        engine.place_order(order(deployment, "k-timeout"))
    assert caught.value.status is None
    assert caught.value.request_sent is True
    assert "no answer within 0.3s" in str(caught.value)
    sim.settle()
    assert sim.attempts("POST", "/orders") == 1
    assert len(sim.orders(deployment.id)) == 1


def test_connection_refused_is_a_connection_error():
    with (
        LiveEngineClient(
            f"http://127.0.0.1:{free_port()}",
            "secret-key",
            max_attempts=2,
            backoff_base_s=0.01,
            backoff_max_s=0.02,
        ) as engine,
        pytest.raises(LiveEngineConnectionError) as caught,
    ):
        engine.list_portfolios()
    assert "could not reach the Live Engine" in str(caught.value)
    assert caught.value.request_sent is False
    assert "secret-key" not in str(caught.value)


def test_from_env_names_the_missing_variable(monkeypatch, live_engine):
    monkeypatch.setenv("LIVE_ENGINE_URL", live_engine.base_url)
    monkeypatch.delenv("LIVE_ENGINE_API_KEY", raising=False)
    with pytest.raises(LiveEngineConfigError, match="LIVE_ENGINE_API_KEY"):
        LiveEngineClient.from_env()
    monkeypatch.setenv("LIVE_ENGINE_API_KEY", live_engine.api_key)
    monkeypatch.delenv("LIVE_ENGINE_URL")
    with pytest.raises(LiveEngineConfigError, match="LIVE_ENGINE_URL"):
        LiveEngineClient.from_env()
    monkeypatch.setenv("LIVE_ENGINE_URL", live_engine.base_url)
    with LiveEngineClient.from_env(max_attempts=1) as engine:
        assert isinstance(engine.list_portfolios(), list)


def test_the_original_backends_key_variable_is_an_alias(monkeypatch, live_engine):
    monkeypatch.setenv("LIVE_ENGINE_URL", live_engine.base_url)
    monkeypatch.delenv("LIVE_ENGINE_API_KEY", raising=False)
    monkeypatch.delenv("LIVE_ENGINE_SERVICE_API_KEY", raising=False)
    with pytest.raises(LiveEngineConfigError, match="LIVE_ENGINE_API_KEY or LIVE_ENGINE_SERVICE_API_KEY"):
        LiveEngineClient.from_env()
    monkeypatch.setenv("LIVE_ENGINE_SERVICE_API_KEY", live_engine.api_key)
    with LiveEngineClient.from_env(max_attempts=1) as engine:
        assert isinstance(engine.list_portfolios(), list)
    monkeypatch.setenv("LIVE_ENGINE_API_KEY", "wrong-key")  # ours wins over the alias
    with LiveEngineClient.from_env(max_attempts=1) as engine, pytest.raises(LiveEngineError):
        engine.list_portfolios()


def test_all_errors_share_one_base():
    for error_class in (
        LiveEngineAuthError,
        LiveEngineNotFoundError,
        LiveEngineValidationError,
        LiveEngineRateLimitError,
        LiveEngineServerError,
        LiveEngineProtocolError,
        LiveEngineConnectionError,
        LiveEngineConfigError,
    ):
        assert issubclass(error_class, LiveEngineError)
