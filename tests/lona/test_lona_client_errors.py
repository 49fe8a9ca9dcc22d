"""Every failure mode of the client against a real stand-in process, with attempt counts."""

from __future__ import annotations

import time

import pytest

from nexus_assets.lona import (
    LonaAuthError,
    LonaClient,
    LonaConfigError,
    LonaConnectionError,
    LonaError,
    LonaNotFoundError,
    LonaProtocolError,
    LonaRateLimitError,
    LonaServerError,
    LonaValidationError,
)
from nexus_assets.sim.process import free_port


def fast_client(stand_in, *, token=None, user_id=None, **options) -> LonaClient:
    settings = {
        "timeout_s": 5.0,
        "max_attempts": 3,
        "backoff_base_s": 0.01,
        "backoff_max_s": 0.05,
        **options,
    }
    return LonaClient(stand_in.base_url, token or stand_in.token, user_id or stand_in.user_id, **settings)


def test_wrong_token_is_an_auth_error_without_retry(lona_stand_in, sim):
    lona = fast_client(lona_stand_in, token="not-the-token")
    with lona, pytest.raises(LonaAuthError) as caught:
        lona.list_symbols()
    error = caught.value
    assert error.status == 401
    assert error.code == "unauthorized"
    assert "invalid API key" in error.message
    assert "401" in str(error)
    assert "not-the-token" not in str(error)
    assert sim.attempts("GET", "/symbols") == 1


def test_wrong_user_id_is_an_auth_error(lona_stand_in, sim):
    with fast_client(lona_stand_in, user_id="someone-else") as lona, pytest.raises(LonaAuthError):
        lona.list_strategies()


def test_unknown_strategy_is_not_found_without_retry(client, sim):
    with pytest.raises(LonaNotFoundError) as caught:
        client.get_strategy("no-such-strategy")
    assert caught.value.status == 404
    assert "no-such-strategy" in caught.value.message
    assert caught.value.path == "/strategies/no-such-strategy"
    assert sim.attempts("GET", "/strategies/no-such-strategy") == 1


def test_rate_limit_is_retried_until_it_clears(client, sim):
    sim.arm(status=429, count=2, path_prefix="/symbols")
    symbols = client.list_symbols()
    assert symbols
    assert sim.attempts("GET", "/symbols") == 3
    assert sim.stats()["statuses"] == {"429": 2, "200": 1}


def test_rate_limit_exhausted_raises_with_lonas_message(client, sim, max_attempts):
    sim.arm(status=429, count=10, path_prefix="/symbols")
    with pytest.raises(LonaRateLimitError) as caught:
        client.list_symbols()
    assert caught.value.status == 429
    assert caught.value.message == "injected fault: HTTP 429"
    assert "429" in str(caught.value)
    assert "injected fault" in str(caught.value)
    assert sim.attempts("GET", "/symbols") == max_attempts


def test_retry_after_is_honoured(lona_stand_in, sim):
    sim.arm(status=429, count=2, retry_after=0.3, path_prefix="/symbols")
    with fast_client(lona_stand_in, backoff_base_s=0.001, backoff_max_s=2.0) as lona:
        started = time.monotonic()
        lona.list_symbols()
        elapsed = time.monotonic() - started
    assert elapsed >= 0.6
    assert sim.attempts("GET", "/symbols") == 3


def test_retry_after_is_capped_by_backoff_max(lona_stand_in, sim):
    sim.arm(status=429, count=1, retry_after=600, path_prefix="/symbols")
    with fast_client(lona_stand_in, backoff_max_s=0.1) as lona:
        started = time.monotonic()
        lona.list_symbols()
        assert time.monotonic() - started < 5.0


@pytest.mark.parametrize("status", [500, 503])
def test_server_error_is_retried_until_it_clears(client, sim, status):
    sim.arm(status=status, count=2, path_prefix="/strategies")
    assert len(client.list_strategies()) > 100
    assert sim.stats()["statuses"][str(status)] == 2


def test_server_error_exhausted_raises(client, sim, max_attempts):
    sim.arm(status=503, count=10, path_prefix="/symbols", body="upstream unavailable")
    with pytest.raises(LonaServerError) as caught:
        client.list_symbols()
    assert caught.value.status == 503
    assert caught.value.message == "upstream unavailable"
    assert sim.attempts("GET", "/symbols") == max_attempts


def test_upload_is_not_repeated_after_a_server_error(client, sim):
    sim.arm(status=500, count=1, path_prefix="/symbols")
    csv = b"timestamp,open,high,low,close,volume\n2024-01-02T21:00:00Z,10,11,9,10.5,100\n"
    with pytest.raises(LonaServerError):
        client.upload_symbol_csv("NOREPEAT", csv)
    assert sim.attempts("POST", "/symbols") == 1


def test_detail_envelope_message_is_extracted(client, sim):
    sim.arm(status=400, count=1, path_prefix="/symbols", body='{"detail": "bad skip value"}')
    with pytest.raises(LonaValidationError) as caught:
        client.list_symbols()
    assert caught.value.message == "bad skip value"
    assert sim.attempts("GET", "/symbols") == 1


def test_server_side_validation_error_is_typed(client, sim, lona_stand_in):
    strategy = client.list_strategies()[0]
    with pytest.raises(LonaValidationError) as caught:
        client.run_backtest(strategy["id"], [], "2022-01-01", "2022-06-30")
    assert caught.value.status == 422
    assert "data_ids" in caught.value.message
    assert sim.attempts("POST", "/runner/run") == 1


def test_malformed_body_is_a_protocol_error_without_retry(client, sim):
    sim.arm(malformed=True, count=5, path_prefix="/symbols")
    with pytest.raises(LonaProtocolError) as caught:
        client.list_symbols()
    assert caught.value.status == 200
    assert "not JSON" in caught.value.message
    assert sim.attempts("GET", "/symbols") == 1


def test_missing_data_envelope_is_a_protocol_error(client, sim):
    sim.arm(malformed=True, count=1, path_prefix="/reports", body='{"items": []}')
    with pytest.raises(LonaProtocolError, match="'data' envelope"):
        client.list_reports()


def test_page_without_items_is_a_protocol_error(client, sim):
    sim.arm(malformed=True, count=1, path_prefix="/symbols", body='{"data": {"has_next": false}}')
    with pytest.raises(LonaProtocolError, match="'items'"):
        client.list_symbols()


def test_timeout_is_retried_then_a_connection_error(lona_stand_in, sim):
    sim.arm(delay_s=1.0, count=3, path_prefix="/symbols")
    with fast_client(lona_stand_in, timeout_s=0.2) as lona, pytest.raises(LonaConnectionError) as caught:
        lona.list_symbols()
    assert caught.value.status is None
    assert "no answer within 0.2s" in str(caught.value)
    assert sim.attempts("GET", "/symbols") == 3


def test_timeout_then_answer_succeeds(lona_stand_in, sim):
    sim.arm(delay_s=1.0, count=1, path_prefix="/symbols")
    with fast_client(lona_stand_in, timeout_s=0.3) as lona:
        assert lona.list_symbols()
    assert sim.attempts("GET", "/symbols") == 2


def test_connection_refused_is_a_connection_error():
    with (
        LonaClient(
            f"http://127.0.0.1:{free_port()}/api/v1",
            "secret-token",
            "agent",
            max_attempts=2,
            backoff_base_s=0.01,
            backoff_max_s=0.02,
        ) as lona,
        pytest.raises(LonaConnectionError) as caught,
    ):
        lona.list_strategies()
    assert "could not reach Lona" in str(caught.value)
    assert caught.value.request_sent is False
    assert "secret-token" not in str(caught.value)


def test_token_echoed_by_the_gateway_is_scrubbed(client, sim, lona_stand_in):
    echo = f'{{"error": {{"code": "bad", "message": "key {lona_stand_in.token} rejected"}}}}'
    sim.arm(status=403, count=1, path_prefix="/symbols", body=echo)
    with pytest.raises(LonaAuthError) as caught:
        client.list_symbols()
    assert lona_stand_in.token not in str(caught.value)
    assert "key *** rejected" in str(caught.value)
    assert lona_stand_in.token not in repr(client)


def test_from_env_names_the_missing_variable(monkeypatch, lona_stand_in):
    monkeypatch.setenv("LONA_GATEWAY_URL", lona_stand_in.base_url)
    monkeypatch.setenv("LONA_AGENT_TOKEN", lona_stand_in.token)
    monkeypatch.delenv("LONA_AGENT_ID", raising=False)
    with pytest.raises(LonaConfigError, match="LONA_AGENT_ID"):
        LonaClient.from_env()
    monkeypatch.setenv("LONA_AGENT_ID", lona_stand_in.user_id)
    with LonaClient.from_env(max_attempts=1) as lona:
        assert lona.list_symbols()


def test_all_errors_share_one_base():
    for error_class in (
        LonaAuthError,
        LonaNotFoundError,
        LonaValidationError,
        LonaRateLimitError,
        LonaServerError,
        LonaProtocolError,
        LonaConnectionError,
    ):
        assert issubclass(error_class, LonaError)
