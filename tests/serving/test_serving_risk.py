"""The shared risk state at run time: the kill switch, anomaly latches and books' high-water marks,
changed on one worker (or by an admin) and held by every worker that shares the store."""

from __future__ import annotations

import time
from contextlib import ExitStack
from datetime import UTC, datetime

import pytest
from pydantic import SecretStr
from serving_support import AUTH, decision_body, serve, settings_for

from nexus_assets.ml.portfolio.risk_gate import ReasonCode

ADMIN_TOKEN = "admin-token-0123456789abcdef"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
ANOMALY, DRAWDOWN = ReasonCode.ANOMALY_HALT, ReasonCode.DRAWDOWN_BREAKER


def _settings(trained_registry, cache_dir, tmp_path, **overrides):
    return settings_for(
        trained_registry,
        cache_dir,
        audit_database_url=SecretStr(f"sqlite:///{tmp_path / 'store.db'}"),
        admin_tokens=SecretStr(f"alice:{ADMIN_TOKEN}"),
        **overrides,
    )


def _decide(client, market, request_id: str) -> dict:
    reply = client.post(
        "/v1/decisions", json=decision_body(market, request_id=request_id, symbol="S3"), headers=AUTH
    )
    assert reply.status_code == 200, reply.text
    return reply.json()


def _halted_by_switch(decision: dict) -> bool:
    return decision["action"] == "halt" and any(r.startswith("KILL_SWITCH") for r in decision["reasons"])


def test_a_change_on_one_worker_holds_on_every_worker_within_a_second(
    trained_registry, cache_dir, market, tmp_path
):
    settings = _settings(trained_registry, cache_dir, tmp_path)
    with ExitStack() as stack:
        first, second = (stack.enter_context(serve(settings)) for _ in range(2))
        assert first.get("/v1/risk", headers=AUTH).json()["kill_switch"]["engaged"] is False
        assert not _halted_by_switch(_decide(second, market, "before"))

        engaged = first.post(
            "/v1/risk/kill-switch", json={"engaged": True, "reason": "feed looks wrong"}, headers=ADMIN
        )
        assert engaged.status_code == 200, engaged.text
        state = engaged.json()["kill_switch"]
        assert (state["engaged"], state["changed_by"], state["reason"]) == (True, "alice", "feed looks wrong")
        assert abs(datetime.fromisoformat(state["changed_at"]) - datetime.now(UTC)).total_seconds() < 5
        assert _halted_by_switch(_decide(first, market, "on-the-worker-that-set-it"))

        started = time.monotonic()
        while not second.get("/v1/risk", headers=AUTH).json()["kill_switch"]["engaged"]:
            assert time.monotonic() - started < 1.0, "the other worker did not see the change within 1 s"
            time.sleep(0.02)
        assert _halted_by_switch(_decide(second, market, "on-the-other-worker"))

        released = second.post(
            "/v1/risk/kill-switch", json={"engaged": False, "reason": "feed fixed"}, headers=ADMIN
        )
        assert released.json()["kill_switch"]["engaged"] is False
        started = time.monotonic()
        while first.get("/v1/risk", headers=AUTH).json()["kill_switch"]["engaged"]:
            assert time.monotonic() - started < 1.0
            time.sleep(0.02)
        assert not _halted_by_switch(_decide(first, market, "after"))

    with serve(settings) as restarted:  # the switch, and who changed it, survive a restart
        state = restarted.get("/v1/risk", headers=AUTH).json()["kill_switch"]
        assert (state["engaged"], state["changed_by"], state["reason"]) == (False, "alice", "feed fixed")


def test_only_an_admin_token_changes_the_switch_and_the_body_is_checked(
    trained_registry, cache_dir, market, tmp_path
):
    with serve(_settings(trained_registry, cache_dir, tmp_path)) as client:
        change = {"engaged": True, "reason": "test"}
        assert client.post("/v1/risk/kill-switch", json=change).status_code == 401
        api_token = client.post("/v1/risk/kill-switch", json=change, headers=AUTH)
        assert api_token.status_code == 403 and "NEXUS_ADMIN_TOKENS" in api_token.text
        no_reason = client.post("/v1/risk/kill-switch", json={"engaged": True}, headers=ADMIN)
        assert no_reason.status_code == 422
        assert no_reason.json()["detail"][0]["loc"] == ["body", "reason"]
        control = client.post(
            "/v1/risk/kill-switch", json={"engaged": True, "reason": "a\x00b"}, headers=ADMIN
        )
        assert control.status_code == 422 and "control characters" in control.text
        text_flag = client.post("/v1/risk/kill-switch", json={"engaged": "yes", "reason": "x"}, headers=ADMIN)
        assert text_flag.status_code == 422 and text_flag.json()["detail"][0]["loc"] == ["body", "engaged"]
        assert client.get("/v1/risk", headers=AUTH).json()["kill_switch"]["engaged"] is False


def test_the_deployment_switch_cannot_be_released_at_run_time(trained_registry, cache_dir, market, tmp_path):
    with serve(_settings(trained_registry, cache_dir, tmp_path, kill_switch=True)) as client:
        reply = client.post("/v1/risk/kill-switch", json={"engaged": False, "reason": "try"}, headers=ADMIN)
        state = reply.json()["kill_switch"]
        assert state["engaged"] is True and state["held_by_deployment"] is True
        assert _halted_by_switch(_decide(client, market, "held"))


def test_a_store_that_cannot_record_the_change_is_a_503_and_changes_nothing(
    trained_registry, cache_dir, market, tmp_path
):
    blocked = tmp_path / "blocked"
    blocked.write_text("the store cannot be created under a file")
    settings = settings_for(
        trained_registry,
        cache_dir,
        audit_database_url=SecretStr(f"sqlite:///{blocked / 'store.db'}"),
        audit_spool_dir=tmp_path / "spool",
        admin_tokens=SecretStr(f"alice:{ADMIN_TOKEN}"),
    )
    with serve(settings) as client:
        reply = client.post("/v1/risk/kill-switch", json={"engaged": True, "reason": "x"}, headers=ADMIN)
        assert reply.status_code == 503 and "not changed" in reply.json()["detail"]
        state = client.get("/v1/risk", headers=AUTH).json()["kill_switch"]
        assert state["engaged"] is False and state["read_at"] is None and state["error"]


def _codes(decision: dict) -> set[str]:
    return {reason.partition(":")[0] for reason in decision["reasons"]}


def _wait_for(client, predicate, what: str) -> dict:
    """The risk state once ``predicate`` holds on it; fails past one second."""
    started = time.monotonic()
    while not predicate(state := client.get("/v1/risk", headers=AUTH).json()):
        assert time.monotonic() - started < 1.0, f"{what} did not reach the other worker within 1 s"
        time.sleep(0.02)
    return state


def test_an_anomaly_latch_moved_on_one_worker_holds_on_every_worker_and_after_a_restart(
    trained_registry, cache_dir, market, tmp_path
):
    """The hair-trigger worker latches S3; the other, whose own halt level is never reached,
    holds the stored latch through its resume level and keeps trading the symbols never latched."""
    hair_trigger = _settings(trained_registry, cache_dir, tmp_path, anomaly_halt=1e-9, anomaly_resume=1e-9)
    holding = _settings(trained_registry, cache_dir, tmp_path, anomaly_halt=1.0, anomaly_resume=1e-9)
    with serve(hair_trigger) as first, serve(holding) as second:
        assert ANOMALY not in _codes(_decide(second, market, "before-the-latch"))
        latched = _decide(first, market, "latches-s3")
        assert ANOMALY in _codes(latched)
        state = _wait_for(second, lambda s: "S3" in s["anomaly_latches"], "the latch")
        latch = state["anomaly_latches"]["S3"]
        assert (latch["halted"], latch["decision_id"]) == (True, latched["decision_id"])
        assert ANOMALY in _codes(_decide(second, market, "held-on-the-other-worker"))
        other = second.post(
            "/v1/decisions", json=decision_body(market, request_id="other-symbol", symbol="S1"), headers=AUTH
        ).json()
        assert ANOMALY not in _codes(other), "one symbol's latch halts no other"

    with serve(holding) as restarted:
        assert restarted.get("/v1/risk", headers=AUTH).json()["anomaly_latches"]["S3"]["halted"] is True
        assert ANOMALY in _codes(_decide(restarted, market, "held-after-a-restart"))


def test_a_books_high_water_mark_is_shared_survives_a_restart_and_an_admin_resets_it(
    trained_registry, cache_dir, market, tmp_path
):
    settings = _settings(trained_registry, cache_dir, tmp_path)

    def decide(client, request_id: str, equity: float, book: str | None = "acct-1") -> dict:
        portfolio = {"equity": equity, "positions": {}} | ({"book": book} if book else {})
        body = decision_body(market, request_id=request_id, symbol="S3", portfolio=portfolio)
        reply = client.post("/v1/decisions", json=body, headers=AUTH)
        assert reply.status_code == 200, reply.text
        return reply.json()

    with serve(settings) as first, serve(settings) as second:
        assert DRAWDOWN not in _codes(decide(first, "at-the-peak", 100_000.0))
        _wait_for(second, lambda s: "acct-1" in s["books"], "the mark")
        # 25% below the peak the other worker saw, though this request names no peak itself
        assert DRAWDOWN in _codes(decide(second, "in-drawdown", 75_000.0))
        assert DRAWDOWN not in _codes(decide(second, "another-book", 75_000.0, book="acct-2"))
        assert DRAWDOWN not in _codes(decide(second, "no-book", 75_000.0, book=None)), "no book, no mark"
        # /v1/risk shows the store as this worker last polled it: acct-1 may not be there yet.
        book = _wait_for(
            first, lambda s: s["books"].get("acct-1", {}).get("equity") == 75_000.0, "the equity"
        )["books"]
        assert book["acct-1"]["peak_equity"] == 100_000.0
        assert book["acct-1"]["drawdown"] == pytest.approx(0.25)

    with serve(settings) as restarted:
        assert DRAWDOWN in _codes(decide(restarted, "after-a-restart", 75_000.0))
        denied = restarted.post("/v1/risk/books/acct-1/reset", json={"reason": "withdrawal"}, headers=AUTH)
        assert denied.status_code in (401, 403)
        unknown = restarted.post("/v1/risk/books/nobody/reset", json={"reason": "x"}, headers=ADMIN)
        assert unknown.status_code == 404, unknown.text
        reset = restarted.post(
            "/v1/risk/books/acct-1/reset", json={"reason": "withdrawal of 25k"}, headers=ADMIN
        )
        assert reset.status_code == 200, reset.text
        mark = reset.json()["books"]["acct-1"]
        assert (mark["peak_equity"], mark["generation"], mark["reset_by"]) == (75_000.0, 1, "alice")
        assert DRAWDOWN not in _codes(decide(restarted, "after-the-reset", 75_000.0))
        assert DRAWDOWN in _codes(decide(restarted, "below-the-new-mark", 55_000.0))


def test_the_gross_cap_counts_the_books_other_positions_that_have_a_price(
    trained_registry, cache_dir, market, tmp_path
):
    """90% of equity already sits in S4: a strong S3 buy gets at most the 10% left."""
    held = {"equity": 1_000_000.0, "positions": {"S4": 9_000.0}}

    def decide(client, request_id: str, portfolio: dict) -> dict:
        body = decision_body(market, request_id=request_id, symbol="S3", strength=1.0, portfolio=portfolio)
        reply = client.post("/v1/decisions", json=body, headers=AUTH)
        assert reply.status_code == 200, reply.text
        return reply.json()

    with serve(_settings(trained_registry, cache_dir, tmp_path)) as client:
        alone = decide(client, "alone", {"equity": 1_000_000.0, "positions": {}})
        priced = decide(client, "priced", held | {"prices": {"S4": 100.0}})
        unpriced = decide(client, "unpriced", held)
    assert alone["target_weight"] > 0.1, alone
    assert priced["target_weight"] == pytest.approx(0.1)
    assert ReasonCode.GROSS_CAP in _codes(priced)
    assert unpriced["target_weight"] == alone["target_weight"], "a position without a price is not counted"
    assert any("without a price" in reason and "S4" in reason for reason in unpriced["reasons"])


def test_a_stale_champion_can_be_set_to_add_no_risk(trained_registry, cache_dir, market, tmp_path):
    settings = _settings(
        trained_registry, cache_dir, tmp_path, max_model_age_days=1e-6, stale_model_action="reject"
    )
    with serve(settings) as client:
        decision = _decide(client, market, "with-a-stale-champion")
    assert decision["action"] == "reject" and decision["target_weight"] == 0.0
    assert any(reason.startswith("STALE_MODEL: a champion is older") for reason in decision["reasons"])
