"""Bar windows stored once: many decisions on one symbol and bar stretch share one stored copy,
and every audit row's request is whole again in ``decision_audit_request``."""

from __future__ import annotations

import sqlite3
import uuid
from contextlib import closing
from pathlib import Path

import orjson
from audit_support import response_template, wait_for

from nexus_assets.sim.decision_bodies import decision_body
from nexus_serving.audit import AuditLog, AuditRecord
from nexus_serving.audit.sinks import SqliteSink
from nexus_serving.decisions.request_bars import request_bars
from nexus_serving.metrics import ServiceMetrics
from nexus_serving.schemas import DecisionRequest

RESPONSE = response_template()


def _record(body: dict) -> AuditRecord:
    raw = orjson.dumps(body)
    request = DecisionRequest.model_validate_json(raw)
    response = RESPONSE.model_copy(update={"decision_id": uuid.uuid4().hex, "request_id": body["request_id"]})
    return AuditRecord.of(
        request, response, "f" * 64, 1.0, raw, fingerprint=uuid.uuid4().bytes,
        window=request_bars(request).window_digest(),
    )  # fmt: skip


def _audited(path: Path, bodies: list[dict]) -> None:
    """The bodies' records through one audit log (a writer that remembers nothing yet), then closed."""
    log = AuditLog(SqliteSink(path), ServiceMetrics())
    log.start()
    futures = [log.record(_record(body)) for body in bodies]
    wait_for(lambda: all(future.done() for future in futures), what="the records stored")
    log.close()
    assert [future.result() for future in futures] == [None] * len(bodies)


def _query(path: Path, query: str) -> list[tuple]:
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute(query).fetchall()


def _whole(path: Path) -> dict[str, dict]:
    rows = _query(path, "SELECT request_id, request FROM decision_audit_request")
    return {request_id: orjson.loads(request) for request_id, request in rows}


def test_one_window_is_stored_once_across_writers_and_every_request_is_whole_again(market, tmp_path):
    path = tmp_path / "audit.db"
    on_s1 = [
        decision_body(market, request_id=f"s1-{i}", symbol="S1", side=("buy", "sell")[i % 2])
        for i in range(5)
    ]
    on_s2 = [decision_body(market, request_id="s2-0", symbol="S2")]
    earlier = [decision_body(market, request_id="s1-earlier", symbol="S1", bars_back=1)]
    _audited(path, on_s1 + on_s2 + earlier)
    restarted = [decision_body(market, request_id=f"s1-again-{i}", symbol="S1") for i in range(2)]
    _audited(path, restarted)  # a new writer stores the window again: the store keeps one

    assert _query(path, "SELECT count(*) FROM decision_bar_window") == [(3,)]
    per_window = dict(_query(path, "SELECT bars_window, count(*) FROM decision_audit GROUP BY bars_window"))
    assert sorted(per_window.values()) == [1, 1, 7]
    bodies = on_s1 + on_s2 + earlier + restarted
    assert _whole(path) == {body["request_id"]: body for body in bodies}
    stored = dict(_query(path, "SELECT request_id, request FROM decision_audit"))
    assert all("bars" not in orjson.loads(request) for request in stored.values())


def test_an_audit_file_from_before_windows_keeps_its_rows_whole(market, tmp_path):
    path = tmp_path / "audit.db"
    old = decision_body(market, request_id="before-windows", symbol="S3")
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute(
            """CREATE TABLE decision_audit (decision_id TEXT PRIMARY KEY, request_id TEXT NOT NULL,
            decided_at TEXT NOT NULL, symbol TEXT NOT NULL, action TEXT NOT NULL, model_versions TEXT NOT NULL,
            features_hash TEXT NOT NULL, latency_ms REAL NOT NULL, request TEXT NOT NULL, response TEXT NOT NULL)"""
        )
        conn.execute(
            "INSERT INTO decision_audit VALUES ('d-old', 'before-windows', '2026-12-01T00:00:00+00:00', "
            "'S3', 'execute', '{}', 'h', 1.0, ?, '{}')",
            (orjson.dumps(old).decode(),),
        )
    new = decision_body(market, request_id="with-windows", symbol="S3")
    _audited(path, [new])
    assert _whole(path) == {"before-windows": old, "with-windows": new}
    assert _query(path, "SELECT request_id, bars_window IS NULL FROM decision_audit ORDER BY request_id") == [
        ("before-windows", 1),
        ("with-windows", 0),
    ]
