"""The decision audit log on the real PostgreSQL server; each test in a schema of its own."""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from audit_support import PG_URL, TcpRelay, audit_records, wait_for
from psycopg import sql
from pydantic import SecretStr
from serving_support import AUTH, decision_body, free_port, serve, settings_for

from nexus_serving.audit import AuditLog, AuditRecord
from nexus_serving.audit.record import to_row
from nexus_serving.audit.sinks import PostgresSink
from nexus_serving.metrics import ServiceMetrics

pytestmark = pytest.mark.postgres


@pytest.fixture
def schema() -> Iterator[str]:
    name = f"audit_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
    yield name
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


def _query(schema: str, query: str) -> list[tuple]:
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        return conn.execute(query).fetchall()


def _written(metrics: ServiceMetrics) -> float:
    return metrics.registry.get_sample_value("nexus_audit_written_total") or 0.0


def test_decisions_are_audited_in_postgres(trained_registry, cache_dir, market, schema):
    settings = settings_for(
        trained_registry, cache_dir, audit_database_url=SecretStr(PG_URL), audit_schema=schema
    )
    bodies = [decision_body(market, request_id=f"pg-{i}", symbol=f"S{6 + i}") for i in range(3)]
    with serve(settings) as client:
        answers = [client.post("/v1/decisions", json=body, headers=AUTH).json() for body in bodies]
        client.post("/v1/decisions", json=bodies[0], headers=AUTH)  # a replay, not audited again
    rows = _query(
        schema,
        "SELECT a.decision_id, a.request_id, symbol, action, model_versions, features_hash, latency_ms, "
        "v.request, response, a.decided_at FROM decision_audit a JOIN decision_audit_request v "
        "USING (decision_id) ORDER BY a.request_id",
    )
    assert len(rows) == 3
    for row, body, answer in zip(rows, bodies, answers, strict=True):
        decision_id, request_id, symbol, action, versions, features_hash, latency, request, response, at = row
        assert (decision_id, request_id, symbol) == (
            answer["decision_id"],
            body["request_id"],
            body["signal"]["symbol"],
        )
        assert action == answer["action"]
        assert versions == answer["model_versions"]
        assert len(features_hash) == 64
        assert latency > 0
        assert request == body  # whole again from its bar window; JSONB, compared as parsed JSON
        assert response == answer
        assert at.isoformat().replace("+00:00", "Z") == answer["decided_at"]
    indexes = {
        name
        for (name,) in _query(schema, "SELECT indexname FROM pg_indexes WHERE tablename = 'decision_audit'")
    }
    assert {"decision_audit_request_id", "decision_audit_decided_at"} <= indexes
    (windows,) = _query(schema, "SELECT count(*) FROM decision_bar_window")
    assert windows == (3,), "one window per symbol and bar stretch"


def test_search_path_from_the_url_and_many_rows_at_shutdown(market, schema):
    metrics = ServiceMetrics()
    audit = AuditLog(PostgresSink(f"{PG_URL}?options=-csearch_path%3D{schema}"), metrics, capacity=5_000)
    records = audit_records(market, 3_000, prefix="pg-bulk")
    audit.start()
    stored = [audit.record(record) for record in records]
    audit.close()
    assert [future.result(0) for future in stored] == [None] * 3_000
    assert _query(schema, "SELECT count(*) FROM decision_audit") == [(3_000,)]
    assert _query(schema, "SELECT count(*) FROM decision_request") == [(3_000,)]
    assert _written(metrics) == 3_000


def test_rows_wait_while_the_database_is_unreachable(market, schema):
    relay = TcpRelay(free_port(), ("127.0.0.1", 5432))
    url = f"postgresql://postgres@127.0.0.1:{relay.port}/test"
    metrics = ServiceMetrics()
    audit = AuditLog(PostgresSink(url, schema), metrics, capacity=1_000, max_backoff_s=0.2)
    records = audit_records(market, 40, prefix="pg-down")
    audit.start()
    try:
        waiting = [audit.record(record) for record in records[:30]]
        wait_for(lambda: audit.depth == 30, what="the rows to wait in the queue")
        assert _written(metrics) == 0
        relay.start()  # the database becomes reachable
        wait_for(lambda: _written(metrics) == 30, what="the queued rows to be written")
        assert [future.result(5) for future in waiting] == [None] * 30
        for record in records[30:]:
            audit.record(record)
        audit.close()
    finally:
        relay.stop()
    assert _query(schema, "SELECT count(*) FROM decision_audit") == [(40,)]


def test_a_dropped_schema_heals(market, schema):
    metrics = ServiceMetrics()
    audit = AuditLog(PostgresSink(PG_URL, schema), metrics, max_backoff_s=0.2)
    first, second = audit_records(market, 5, prefix="pg-a"), audit_records(market, 5, prefix="pg-b")
    audit.start()
    for record in first:
        audit.record(record)
    wait_for(lambda: _written(metrics) == 5, what="the first rows")
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
    for record in second:
        audit.record(record)
    audit.close()
    stored = {d for (d,) in _query(schema, "SELECT decision_id FROM decision_audit")}
    assert stored == {r.response.decision_id for r in second}
    assert metrics.registry.get_sample_value("nexus_audit_dropped_total") == 0


def _refused_by_postgres(market) -> list[AuditRecord]:
    """Two records PostgreSQL refuses for their content: U+0000 in a text column, and in JSON."""
    nul_in_text, nul_in_json = audit_records(market, 2, prefix="pg-nul")
    nul_in_text = dataclasses.replace(
        nul_in_text, response=nul_in_text.response.model_copy(update={"request_id": "id\x00x"})
    )
    nul_in_json = dataclasses.replace(nul_in_json, request=b'{"request_id": "id\\u0000x"}')
    return [nul_in_text, nul_in_json]


def test_rows_postgres_refuses_go_to_the_rejected_table_and_the_others_keep_flowing(market, schema):
    metrics = ServiceMetrics()
    audit = AuditLog(PostgresSink(PG_URL, schema), metrics, max_backoff_s=0.2, close_timeout_s=2.0)
    before, after = audit_records(market, 5, prefix="pg-before"), audit_records(market, 5, prefix="pg-after")
    refused = _refused_by_postgres(market)
    audit.start()
    try:
        for record in [*before[:2], refused[0], *before[2:], refused[1]]:  # one batch, mixed
            audit.record(record)
        wait_for(lambda: _written(metrics) == 5, what="the rows beside the refused ones")
        for record in after:
            audit.record(record)
        wait_for(lambda: _written(metrics) == 10, what="the rows that came later")
    finally:
        audit.close()
    stored = {d for (d,) in _query(schema, "SELECT decision_id FROM decision_audit")}
    assert stored == {r.response.decision_id for r in [*before, *after]}
    rejected = _query(schema, "SELECT decision_id, reason, row_json FROM decision_audit_rejected")
    assert {row[0] for row in rejected} == {r.response.decision_id for r in refused}
    for decision_id, reason, row_json in rejected:
        assert reason, "the database's reason is kept"
        kept = json.loads(row_json)
        assert kept[0] == decision_id and len(kept) == 14, "the whole row is kept, readable"
        assert "\\u0000" in row_json and "\x00" not in row_json, "escaped, never a raw U+0000"
    assert metrics.registry.get_sample_value("nexus_audit_rejected_total") == 2
    assert metrics.registry.get_sample_value("nexus_audit_dropped_total") == 0


@pytest.mark.slow
def test_postgres_unreachable_for_a_minute_under_load_loses_and_repeats_nothing(
    trained_registry, cache_dir, market, schema, tmp_path
):
    """Four clients keep deciding while the database is cut off for 60 s, then comes back."""
    import threading
    import time

    relay = TcpRelay(free_port(), ("127.0.0.1", 5432))
    relay.start()
    settings = settings_for(
        trained_registry,
        cache_dir,
        audit_database_url=SecretStr(f"postgresql://postgres@127.0.0.1:{relay.port}/test"),
        audit_schema=schema,
        audit_spool_dir=tmp_path / "spool",
    )
    answered: dict[str, str] = {}
    statuses: list[int] = []
    lock, stop = threading.Lock(), threading.Event()

    def client_loop(client, worker: int) -> None:
        n = 0
        while not stop.is_set():
            body = decision_body(market, request_id=f"pg-cut-{worker}-{n}", symbol="S5")
            reply = client.post("/v1/decisions", json=body, headers=AUTH)
            with lock:
                statuses.append(reply.status_code)
                if reply.status_code == 200:
                    answered[body["request_id"]] = reply.json()["decision_id"]
            n += 1

    try:
        with serve(settings) as client:
            threads = [threading.Thread(target=client_loop, args=(client, w)) for w in range(4)]
            for thread in threads:
                thread.start()
            time.sleep(3)
            relay.stop()  # the database is unreachable
            time.sleep(60)
            during = len(answered)
            relay.start()
            time.sleep(5)
            stop.set()
            for thread in threads:
                thread.join()
            wait_for(
                lambda: _query(schema, "SELECT count(*) FROM decision_audit")[0][0] == len(answered),
                timeout=60,
                what="every answered decision in PostgreSQL",
            )
    finally:
        relay.stop()
    stored = dict(_query(schema, "SELECT request_id, decision_id FROM decision_audit"))
    assert set(statuses) == {200}, "the outage is invisible to clients"
    assert stored == answered, "every acknowledged decision once, none lost"
    whole = _query(schema, "SELECT count(*) FROM decision_audit_request WHERE request -> 'bars' IS NOT NULL")
    assert whole == [(len(answered),)], "the spool forwarded each bar window with the rows on it"
    assert during > 100
    print(f"\nPostgreSQL cut 60 s under load: {len(answered)} decisions, {during} by the end of the outage")


def test_a_worker_migrating_on_connect_does_not_wait_for_readers_of_the_views(market, schema):
    """A reader holding the views (monitoring mid-query) must not block a worker that connects:
    the views are created once, never replaced on connect (which needs an exclusive lock)."""
    from nexus_serving.audit.shadow_table import PAIR_VIEW
    from nexus_serving.audit.sinks import REQUEST_VIEW

    first = PostgresSink(PG_URL, schema)
    first.commit([])  # creates the tables and views
    first.close()
    with psycopg.connect(PG_URL) as reader:  # one open transaction holding both views
        reader.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        for view in (REQUEST_VIEW, PAIR_VIEW):
            reader.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(view))).fetchone()
        worker = PostgresSink(PG_URL, schema)
        records = audit_records(market, 1, prefix="during-read")
        worker.commit([to_row(r) for r in records])  # migrates on connect, then stores
        worker.close()
    assert _query(schema, "SELECT count(*) FROM decision_audit") == [(1,)]
