"""Decisions that hold across workers, restarts and kill -9: ``nexus serve --workers 2`` as real processes.

Each test runs on the embedded SQLite store and on PostgreSQL: a request id is decided once by
whichever worker commits it first, and an answered decision is already in the audit store.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest
from audit_support import PG_URL
from process_support import serve_env, start_serve, worker_pids
from psycopg import sql
from serving_support import AUTH, decision_body, free_port

from nexus_assets.sim.process import wait_until_healthy

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc")]


@dataclass
class Store:
    env: dict[str, str]
    query: Callable[[str], list[tuple]]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        path = tmp_path / "audit.db"

        def query_sqlite(text: str) -> list[tuple]:
            with closing(sqlite3.connect(path)) as conn:
                return conn.execute(text).fetchall()

        yield Store({"NEXUS_AUDIT_DATABASE_URL": f"sqlite:///{path}"}, query_sqlite)
        return
    schema = f"durable_{uuid.uuid4().hex[:12]}"

    def query_postgres(text: str) -> list[tuple]:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
            return conn.execute(text).fetchall()

    yield Store({"NEXUS_AUDIT_DATABASE_URL": PG_URL, "NEXUS_AUDIT_SCHEMA": schema}, query_postgres)
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def _env(trained_registry: str, store: Store, tmp_path: Path) -> dict[str, str]:
    return serve_env(
        MLFLOW_TRACKING_URI=trained_registry,
        NEXUS_MODEL_POLL_SECONDS="0",
        NEXUS_AUDIT_SPOOL_DIR=str(tmp_path / "spool"),
        **store.env,
    )


def _same_id_at_once(base_url: str, body: dict, count: int) -> list[httpx.Response]:
    """``count`` posts of ``body`` at once, each on a connection of its own (a client retrying)."""
    barrier = threading.Barrier(count)
    replies: list[httpx.Response] = []

    def post() -> None:
        with httpx.Client(base_url=base_url, headers=AUTH, timeout=30) as own:
            own.get("/health")
            barrier.wait()
            replies.append(own.post("/v1/decisions", json=body))

    threads = [threading.Thread(target=post) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return replies


def test_one_request_id_over_fresh_connections_is_decided_once_across_workers_and_restarts(
    trained_registry, market, isolated_state, store, tmp_path
):
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = _env(trained_registry, store, tmp_path)
    body = decision_body(market, request_id="retried-everywhere", symbol="S1")
    other = decision_body(market, request_id="retried-everywhere", symbol="S2")
    decided: set[str] = set()
    for run in ("first", "restarted"):
        process = start_serve(port, env, "--workers", "2")
        try:
            wait_until_healthy(f"{base_url}/ready", timeout_s=240, process=process)
            assert len(worker_pids(process.pid)) == 2
            replies = _same_id_at_once(base_url, body, 12)
            assert {reply.status_code for reply in replies} == {200}, [r.text for r in replies]
            decided |= {reply.json()["decision_id"] for reply in replies}
            conflict = httpx.post(f"{base_url}/v1/decisions", json=other, headers=AUTH, timeout=30)
            assert conflict.status_code == 409, (run, conflict.text)
        finally:
            process.terminate()
            output = process.communicate(timeout=90)[0]
        assert process.returncode == 0, output[-3000:]
        assert len(decided) == 1, (run, decided)
    stored = store.query("SELECT decision_id FROM decision_audit WHERE request_id = 'retried-everywhere'")
    assert stored == [(decided.pop(),)], "one decision, stored once"


def test_kill_minus_9_under_load_loses_no_answered_decision(
    trained_registry, market, isolated_state, store, tmp_path
):
    """Every 200 a client got is in the audit store, though supervisor and workers die at once."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    process = start_serve(port, _env(trained_registry, store, tmp_path), "--workers", "2")
    answered: dict[str, str] = {}
    lock, stop = threading.Lock(), threading.Event()

    def client_loop(worker: int) -> None:
        with httpx.Client(base_url=base_url, headers=AUTH, timeout=10) as client:
            n = 0
            while not stop.is_set():
                body = decision_body(market, request_id=f"kill-{worker}-{n}", symbol="S1")
                n += 1
                try:
                    reply = client.post("/v1/decisions", json=body)
                except httpx.HTTPError:
                    continue  # killed while in flight: never answered
                if reply.status_code == 200:
                    with lock:
                        answered[body["request_id"]] = reply.json()["decision_id"]

    try:
        wait_until_healthy(f"{base_url}/ready", timeout_s=240, process=process)
        workers = worker_pids(process.pid)
        threads = [threading.Thread(target=client_loop, args=(w,)) for w in range(4)]
        for thread in threads:
            thread.start()
        time.sleep(3)
        for pid in [process.pid, *workers]:
            os.kill(pid, signal.SIGKILL)
        with lock:
            acknowledged = dict(answered)
        stop.set()
        for thread in threads:
            thread.join()
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=30)
    stored = dict(store.query("SELECT request_id, decision_id FROM decision_audit"))
    missing = {rid: did for rid, did in acknowledged.items() if stored.get(rid) != did}
    assert len(acknowledged) > 100
    assert not missing, f"{len(missing)} of {len(acknowledged)} answered decisions have no audit row"
    print(f"\nkill -9 after 3 s of load: {len(acknowledged)} answered, every one in the audit store")


def test_kill_minus_9_of_one_worker_under_load_is_replaced_and_loses_nothing(
    trained_registry, market, isolated_state, store, tmp_path
):
    """One worker dies mid-load: the supervisor starts another, the other worker keeps answering,
    no answer is a 5xx, and every 200 (before, during, after) is in the audit store."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    process = start_serve(port, _env(trained_registry, store, tmp_path), "--workers", "2")
    answered: dict[str, str] = {}
    statuses: list[int] = []
    lock, stop = threading.Lock(), threading.Event()

    def client_loop(worker: int) -> None:
        n = 0
        while not stop.is_set():
            with httpx.Client(base_url=base_url, headers=AUTH, timeout=10) as client:  # a fresh
                for _ in range(20):  # connection now and then: both workers get some
                    body = decision_body(market, request_id=f"one-{worker}-{n}", symbol="S2")
                    n += 1
                    try:
                        reply = client.post("/v1/decisions", json=body)
                    except httpx.HTTPError:
                        break  # its worker was killed while it was in flight: never answered
                    with lock:
                        statuses.append(reply.status_code)
                        if reply.status_code == 200:
                            answered[body["request_id"]] = reply.json()["decision_id"]

    try:
        wait_until_healthy(f"{base_url}/ready", timeout_s=240, process=process)
        first, second = worker_pids(process.pid)
        threads = [threading.Thread(target=client_loop, args=(w,)) for w in range(4)]
        for thread in threads:
            thread.start()
        time.sleep(2)
        os.kill(first, signal.SIGKILL)
        deadline = time.monotonic() + 120
        while len(workers := worker_pids(process.pid)) < 2 or first in workers:
            assert time.monotonic() < deadline, "the killed worker was not replaced"
            time.sleep(0.2)
        assert second in workers, "the other worker kept running"
        wait_until_healthy(f"{base_url}/ready", timeout_s=240, process=process)
        with lock:
            before_replacement_ready = len(answered)
        time.sleep(2)  # both workers answering again
        stop.set()
        for thread in threads:
            thread.join()
    finally:
        process.terminate()
        output = process.communicate(timeout=90)[0]
    assert process.returncode == 0, output[-3000:]
    assert statuses and set(statuses) == {200}, sorted(set(statuses))
    assert len(answered) > before_replacement_ready > 50
    wanted = dict(store.query("SELECT request_id, decision_id FROM decision_audit"))
    missing = {rid: did for rid, did in answered.items() if wanted.get(rid) != did}
    assert not missing, f"{len(missing)} of {len(answered)} answered decisions have no audit row"
    print(f"\nkill -9 of one worker under load: {len(answered)} answered, every one in the audit store")


def test_the_kill_switch_set_through_one_worker_holds_on_every_worker_within_a_second(
    trained_registry, market, isolated_state, store, tmp_path
):
    admin_token = "admin-token-0123456789abcdef"
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {**_env(trained_registry, store, tmp_path), "NEXUS_ADMIN_TOKENS": f"ops:{admin_token}"}
    process = start_serve(port, env, "--workers", "2")
    try:
        wait_until_healthy(f"{base_url}/ready", timeout_s=240, process=process)
        change = {"engaged": True, "reason": "drill"}
        reply = httpx.post(
            f"{base_url}/v1/risk/kill-switch",
            json=change,
            headers={"Authorization": f"Bearer {admin_token}"},
            timeout=30,
        )
        assert reply.status_code == 200, reply.text
        time.sleep(1.0)  # every worker polls the store at least twice a second
        decisions = []
        for index in range(12):  # fresh connections: both workers answer some
            body = decision_body(market, request_id=f"after-switch-{index}", symbol="S1")
            decisions.append(
                httpx.post(f"{base_url}/v1/decisions", json=body, headers=AUTH, timeout=30).json()
            )
    finally:
        process.terminate()
        output = process.communicate(timeout=90)[0]
    assert process.returncode == 0, output[-3000:]
    assert all(d["action"] == "halt" for d in decisions), [d["action"] for d in decisions]
    assert all(any(r.startswith("KILL_SWITCH") for r in d["reasons"]) for d in decisions)
    events = store.query("SELECT engaged, changed_by, reason FROM risk_kill_switch_event")
    assert [(bool(e[0]), e[1], e[2]) for e in events] == [(True, "ops", "drill")], "who, why, recorded once"
