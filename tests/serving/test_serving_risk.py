"""The kill switch at run time: set by an admin on one worker, held by every worker that shares the store."""

from __future__ import annotations

import time
from contextlib import ExitStack
from datetime import UTC, datetime

from pydantic import SecretStr
from serving_support import AUTH, decision_body, serve, settings_for

ADMIN_TOKEN = "admin-token-0123456789abcdef"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


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
