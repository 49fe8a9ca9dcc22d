"""The decision audit log on SQLite: every new decision is durable before it is answered, none lost."""

from __future__ import annotations

import dataclasses
import json
import logging
import sqlite3
from contextlib import closing
from pathlib import Path

import orjson
import pytest
from audit_support import audit_records, wait_for
from pydantic import SecretStr
from serving_support import AUTH, decision_body, free_port, serve, settings_for

from nexus_serving.audit import AuditLog, AuditUnavailableError, to_row
from nexus_serving.audit.sinks import PAGE_SIZE, SqliteSink, mask_url, open_sink
from nexus_serving.metrics import ServiceMetrics


def _rows(path: Path) -> dict[str, dict]:
    with sqlite3.connect(path) as conn:
        conn.row_factory = sqlite3.Row
        query = (
            "SELECT a.*, v.request AS whole_request FROM decision_audit a "
            "JOIN decision_audit_request v USING (decision_id)"
        )
        return {row["decision_id"]: dict(row) for row in conn.execute(query)}


def _windows(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT count(*) FROM decision_bar_window").fetchone()[0]


def _metric(client, name: str) -> float:
    for line in client.get("/metrics", headers=AUTH).text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not exported")


def test_every_new_decision_is_audited_over_http(trained_registry, cache_dir, market, tmp_path):
    path = tmp_path / "audit" / "decisions.db"
    settings = settings_for(trained_registry, cache_dir, audit_database_url=SecretStr(f"sqlite:///{path}"))
    bodies = [
        decision_body(market, request_id="audit-1", symbol="S1"),
        decision_body(market, request_id="audit-2", symbol="S1"),  # same bars as audit-1
        decision_body(market, request_id="audit-3", symbol="S2", portfolio={"equity": 1e6, "positions": {}}),
    ]
    batch = [decision_body(market, request_id=f"audit-b{i}", symbol=f"S{3 + i}") for i in range(2)]
    with serve(settings) as client:
        sent = {}
        for body in bodies:
            response = client.post("/v1/decisions", json=body, headers=AUTH)
            assert response.status_code == 200, response.text
            sent[response.json()["decision_id"]] = (body, response.json())
        replay = client.post("/v1/decisions", json=bodies[0], headers=AUTH).json()
        decided = client.post("/v1/decisions/batch", json={"requests": batch}, headers=AUTH)
        assert decided.status_code == 200, decided.text
        for body, answer in zip(batch, decided.json()["decisions"], strict=True):
            sent[answer["decision_id"]] = (body, answer)
        wait_for(lambda: _metric(client, "nexus_audit_written_total") == 5, what="5 audited decisions")
        assert _metric(client, "nexus_audit_dropped_total") == 0
        assert _metric(client, "nexus_audit_queue_depth") == 0
    assert replay["decision_id"] in sent  # the replay returned the stored decision and was not re-audited
    rows = _rows(path)
    assert set(rows) == set(sent)
    for decision_id, (body, answer) in sent.items():
        row = rows[decision_id]
        assert row["request_id"] == body["request_id"] == answer["request_id"]
        assert row["symbol"] == body["signal"]["symbol"]
        assert row["action"] == answer["action"]
        assert orjson.loads(row["model_versions"]) == answer["model_versions"]
        assert orjson.loads(row["whole_request"]) == body, "the request is whole again, bars and all"
        assert orjson.loads(row["request"]) == {k: v for k, v in body.items() if k != "bars"}
        assert orjson.loads(row["response"]) == answer
        assert row["latency_ms"] > 0
        assert len(row["features_hash"]) == 64
        assert row["decided_at"].replace("+00:00", "Z") == answer["decided_at"]
    windows = {answer["request_id"]: rows[d]["bars_window"] for d, (_, answer) in sent.items()}
    assert windows["audit-1"] == windows["audit-2"], "the same bars are stored once"
    assert len(set(windows.values())) == _windows(path) == 4
    hashes = {answer["request_id"]: rows[d]["features_hash"] for d, (_, answer) in sent.items()}
    assert hashes["audit-1"] == hashes["audit-2"]  # same inputs, same hash
    assert len({hashes["audit-1"], hashes["audit-3"], hashes["audit-b0"], hashes["audit-b1"]}) == 4


def test_default_store_is_sqlite_under_nexus_home(trained_registry, cache_dir, market, isolated_state):
    with serve(settings_for(trained_registry, cache_dir)) as client:
        body = decision_body(market, request_id="default-1", symbol="S4")
        decision_id = client.post("/v1/decisions", json=body, headers=AUTH).json()["decision_id"]
    database = isolated_state / "serving" / "audit.db"
    assert set(_rows(database)) == {decision_id}
    with closing(sqlite3.connect(database)) as conn:  # small pages: a commit writes whole pages
        assert conn.execute("PRAGMA page_size").fetchone()[0] == PAGE_SIZE


def test_audit_can_be_turned_off(trained_registry, cache_dir, market, isolated_state):
    settings = settings_for(trained_registry, cache_dir, audit_enabled=False)
    with serve(settings) as client:
        body = decision_body(market, request_id="off-1", symbol="S4")
        assert client.post("/v1/decisions", json=body, headers=AUTH).status_code == 200
        assert _metric(client, "nexus_audit_written_total") == 0
    # The store still holds the shared kill switch; it has no audit table.
    with closing(sqlite3.connect(isolated_state / "serving" / "audit.db")) as conn:
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "decision_audit" not in tables and "risk_kill_switch_event" in tables


def test_clean_shutdown_loses_nothing(market, tmp_path):
    metrics = ServiceMetrics()
    audit = AuditLog(SqliteSink(tmp_path / "bulk.db"), metrics, capacity=10_000)
    records = audit_records(market, 5_000)
    audit.start()
    stored = [audit.record(record) for record in records]
    audit.close()
    assert [future.result(0) for future in stored] == [None] * 5_000, "each one settled: stored, ours"
    assert set(_rows(tmp_path / "bulk.db")) == {r.response.decision_id for r in records}
    assert metrics.registry.get_sample_value("nexus_audit_written_total") == 5_000
    assert metrics.registry.get_sample_value("nexus_audit_dropped_total") == 0
    assert audit.depth == 0


def test_full_queue_refuses_without_blocking(market, tmp_path, caplog):
    metrics = ServiceMetrics()
    audit = AuditLog(SqliteSink(tmp_path / "small.db"), metrics, capacity=10)
    records = audit_records(market, 25)
    with caplog.at_level(logging.WARNING, logger="nexus_serving.audit"):
        stored = [audit.record(record) for record in records]  # writer not started: nothing drains
    assert [future.done() for future in stored] == [False] * 10 + [True] * 15
    for future in stored[10:]:
        with pytest.raises(AuditUnavailableError, match="queue is full"):
            future.result(0)
    assert metrics.registry.get_sample_value("nexus_audit_dropped_total") == 15
    assert "queue is full" in caplog.text
    audit.close()  # a log that never started still stores what it accepted
    assert [future.result(0) for future in stored[:10]] == [None] * 10
    assert set(_rows(tmp_path / "small.db")) == {r.response.decision_id for r in records[:10]}
    with pytest.raises(AuditUnavailableError, match="closed"):  # after close nothing is accepted
        audit.record(audit_records(market, 1, prefix="after-close")[0]).result(0)


def test_a_request_id_is_stored_once_and_a_later_decision_gets_the_holder(market, tmp_path):
    """Two decisions for one request id (two workers, say): the first stored holds the id."""
    first, second = audit_records(market, 2, prefix="twin")
    second = dataclasses.replace(
        second, response=second.response.model_copy(update={"request_id": first.response.request_id})
    )
    other_body = dataclasses.replace(second, fingerprint=b"another body")
    sink = SqliteSink(tmp_path / "audit.db")
    try:
        assert sink.commit([to_row(first)]).taken == {}
        again = sink.commit([to_row(first)])
        assert again.taken == {}, "a retried commit finds its own claim: stored, once"
        both = sink.commit([to_row(second), to_row(other_body)]).taken
        assert set(both) == {second.response.decision_id}, "one batch, one id: the later row loses too"
        (holder,) = both.values()
        taken = sink.commit([to_row(second)]).taken[second.response.decision_id]
        assert taken.decision_id == first.response.decision_id
        assert taken.fingerprint == first.fingerprint.hex()
        assert orjson.loads(taken.response)["decision_id"] == first.response.decision_id
        assert holder == taken
        assert sink.write([to_row(second)]) == 0, "a spooled decision was answered: stored all the same"
    finally:
        sink.close()
    assert sorted(_rows(tmp_path / "audit.db")) == sorted(
        [first.response.decision_id, second.response.decision_id]
    )


def _spooled_ids(spool: Path) -> list[str]:
    """Decision ids in the spool, oldest first; a segment being forwarded (renamed) counts too."""
    while True:
        try:
            paths = sorted(spool.glob("*.jsonl*"), key=lambda path: path.name.split(".jsonl")[0])
            return [orjson.loads(line)[0] for path in paths for line in path.read_bytes().splitlines()]
        except FileNotFoundError:  # renamed between the listing and the read
            continue


def test_store_down_spools_every_decision_and_does_not_leak_the_password(
    trained_registry, cache_dir, market, caplog, tmp_path
):
    url = f"postgresql://auditor:Sup3r-Secret-pw@127.0.0.1:{free_port()}/test"
    spool = tmp_path / "spool"
    settings = settings_for(
        trained_registry,
        cache_dir,
        audit_database_url=SecretStr(url),
        audit_spool_dir=spool,
        audit_spill_after_s=0.2,
        audit_flush_timeout_s=0.5,
    )
    caplog.set_level(logging.INFO, logger="nexus_serving")
    answered = []
    with serve(settings) as client:
        for i in range(8):
            body = decision_body(market, request_id=f"down-{i}", symbol="S5")
            reply = client.post("/v1/decisions", json=body, headers=AUTH)
            assert reply.status_code == 200, reply.text
            answered.append(reply.json()["decision_id"])
        wait_for(lambda: _metric(client, "nexus_audit_spooled_total") == 8, what="every decision spooled")
        assert _metric(client, "nexus_audit_dropped_total") == 0
        assert _metric(client, "nexus_audit_written_total") == 0
        assert _metric(client, "nexus_audit_queue_bytes") == 0, "spooled records leave memory"
    # The store never came back: the spool keeps them, durable, for the next start.
    assert _spooled_ids(spool) == answered
    assert "Sup3r-Secret-pw" not in caplog.text
    assert mask_url(url) in caplog.text  # the destination is named, with the password masked
    assert "forwarded by the next start" in caplog.text


def test_spooled_decisions_reach_the_store_in_order_when_it_is_back_and_after_a_restart(
    trained_registry, cache_dir, market, tmp_path
):
    blocked = tmp_path / "store"
    blocked.write_text("a file where the store's folder should be: the store cannot open")
    store, spool = blocked / "audit.db", tmp_path / "spool"
    settings = settings_for(
        trained_registry,
        cache_dir,
        audit_database_url=SecretStr(f"sqlite:///{store}"),
        audit_spool_dir=spool,
        audit_spill_after_s=0.2,
        audit_flush_timeout_s=0.5,
    )
    answered = []

    def decide(client, name: str) -> None:
        reply = client.post(
            "/v1/decisions", json=decision_body(market, request_id=name, symbol="S5"), headers=AUTH
        )
        assert reply.status_code == 200, reply.text
        answered.append(reply.json()["decision_id"])

    with serve(settings) as client:  # down all along: what it decided stays in the spool
        for i in range(3):
            decide(client, f"before-restart-{i}")
        wait_for(lambda: _metric(client, "nexus_audit_spooled_total") == 3, what="spooled")
    assert _spooled_ids(spool) == answered

    with serve(settings) as client:  # restarted, the store still down, then back
        for i in range(3):
            decide(client, f"while-down-{i}")
        wait_for(lambda: len(_spooled_ids(spool)) == 6, what="spooled after the restart")
        blocked.unlink()
        blocked.mkdir()
        wait_for(lambda: _metric(client, "nexus_audit_written_total") == 6, what="the spool forwarded")
        decide(client, "after")
        wait_for(lambda: _metric(client, "nexus_audit_written_total") == 7, what="a new decision stored")
        assert not list(spool.glob("*")), "a forwarded segment is deleted"
    with closing(sqlite3.connect(store)) as conn:
        stored = [row[0] for row in conn.execute("SELECT decision_id FROM decision_audit ORDER BY rowid")]
    assert stored == answered, "every decision once, in the order it was decided"


def test_with_neither_store_nor_spool_decisions_fail_closed_and_are_decided_once_both_are_back(
    trained_registry, cache_dir, market, tmp_path
):
    blocked = tmp_path / "blocked"
    blocked.write_text("neither the store nor the spool can be created under a file")
    settings = settings_for(
        trained_registry,
        cache_dir,
        audit_database_url=SecretStr(f"sqlite:///{blocked}/audit.db"),
        audit_spool_dir=blocked / "spool",
        audit_spill_after_s=0.1,
        audit_queue_size=2,
        audit_ack_timeout_s=0.3,
    )
    with serve(settings) as client:
        replies = []
        for i in range(8):
            body = decision_body(market, request_id=f"closed-{i}", symbol="S5")
            replies.append(client.post("/v1/decisions", json=body, headers=AUTH))
        assert {reply.status_code for reply in replies} == {503}, "nothing is answered until durable"
        assert all(reply.headers["retry-after"] == "1" for reply in replies)
        late = [i for i, reply in enumerate(replies) if "not stored" in reply.json()["detail"]]
        full = [i for i, reply in enumerate(replies) if "audit log is full" in reply.json()["detail"]]
        assert late and full and sorted(late + full) == list(range(8))
        assert _metric(client, "nexus_audit_refused_total") == 8
        assert _metric(client, "nexus_audit_dropped_total") == 0
        blocked.unlink()
        blocked.mkdir()
        wait_for(
            lambda: _metric(client, "nexus_audit_written_total") == len(late),
            what="the held decisions stored",
        )

        def retry(index: int):
            body = decision_body(market, request_id=f"closed-{index}", symbol="S5")
            reply = client.post("/v1/decisions", json=body, headers=AUTH)
            assert reply.status_code == 200, reply.text
            return reply.json()["decision_id"]

        # A late one was decided and is now stored: its retry gets that decision.
        assert retry(late[0]) in _rows(blocked / "audit.db")
        assert _metric(client, "nexus_audit_written_total") == len(late)
        # A refused one was not decided: its retry is its first decision, stored as it is answered.
        assert retry(full[0]) in _rows(blocked / "audit.db")
        assert _metric(client, "nexus_audit_written_total") == len(late) + 1


def test_store_urls(tmp_path):
    assert open_sink(None).description.endswith("serving/audit.db")
    assert open_sink(f"sqlite:///{tmp_path}/a.db").description == f"sqlite:///{tmp_path}/a.db"
    masked = open_sink("postgres+psycopg://u:pw@db.example:5432/audit?sslmode=require").description
    assert masked == "postgresql://u:***@db.example:5432/audit?sslmode=require"
    assert mask_url("postgresql://u@h/db?password=pw&sslmode=require") == (
        "postgresql://u@h/db?password=***&sslmode=require"
    )


def test_a_row_sqlite_cannot_encode_goes_to_the_rejected_table(market, tmp_path):
    """A lone surrogate cannot be stored as UTF-8: that row is set aside, its batch is written."""
    good, bad = (to_row(record) for record in audit_records(market, 2, prefix="sqlite-refused"))
    bad = (*bad[:1], "id\udc80x", *bad[2:])
    sink = SqliteSink(tmp_path / "audit.db")
    try:
        assert sink.write([good, bad]) == 1
        assert sink.write([good]) == 0, "a retry of a stored row is skipped"
    finally:
        sink.close()
    with closing(sqlite3.connect(tmp_path / "audit.db")) as conn:
        assert conn.execute("SELECT decision_id FROM decision_audit").fetchall() == [(good[0],)]
        ((decision_id, reason, row_json),) = conn.execute(
            "SELECT decision_id, reason, row_json FROM decision_audit_rejected"
        ).fetchall()
    assert decision_id == bad[0] and "surrogate" in reason
    assert json.loads(row_json)[1] == "id\udc80x"


def test_the_queue_is_bounded_in_bytes_not_only_in_records(market, tmp_path):
    blocked = tmp_path / "blocked"
    blocked.write_text("the store cannot open under a file")
    metrics = ServiceMetrics()
    log = AuditLog(SqliteSink(blocked / "audit.db"), metrics, capacity=100_000, max_bytes=1_000_000)
    records = audit_records(market, 200)
    size = records[0].size
    assert size > 10_000, "a record counts the request it holds"
    log.start()
    try:
        admitted = 0
        for record in records:
            if not log.admits():
                break
            assert not log.record(record).done()
            admitted += 1
        assert admitted == -(-1_000_000 // size), "admitted until the bytes bound, far below the record bound"
    finally:
        blocked.unlink()
        blocked.mkdir(exist_ok=True)  # the writer, retrying, may have made it already
        log.close()
    assert metrics.registry.get_sample_value("nexus_audit_written_total") == admitted


def test_a_segment_claimed_under_a_reused_pid_is_forwarded(market, tmp_path):
    """A dead worker's claim carries a pid the new worker may have been given again."""
    import os

    from nexus_serving.audit.spool import CLAIMED_MARK, AuditSpool

    spool_dir = tmp_path / "spool"
    records = audit_records(market, 3, prefix="reused-pid")
    writer = AuditSpool(spool_dir)
    writer.append([to_row(record) for record in records])
    [segment] = writer.segments()
    segment.rename(segment.with_name(f"{segment.name}{CLAIMED_MARK}{os.getpid()}"))
    assert not writer.segments()

    store = tmp_path / "audit.db"
    fresh = AuditSpool(spool_dir)
    fresh.recover()
    assert fresh.forward(SqliteSink(store)) == (3, 0)
    assert set(_rows(store)) == {record.response.decision_id for record in records}
    assert not list(spool_dir.iterdir())
