"""The shared risk state through the audit sinks and the risk store, on SQLite and PostgreSQL.

A decision's risk move is stored in its audit row's transaction; the store reads what every
worker wrote, and a reset of a book's mark voids the raises decided before it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from audit_support import PG_URL
from psycopg import sql

from nexus_assets.risk_store import RiskMove, RiskStore
from nexus_serving.audit.sinks import RISK_MOVE, WINDOW, AuditSink, open_sink, rejected_json
from nexus_serving.audit.spool import decode_row, encode_row

START = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def stores(request: pytest.FixtureRequest, tmp_path) -> Iterator[tuple[AuditSink, RiskStore]]:
    if request.param == "sqlite":
        url, schema = f"sqlite:///{tmp_path / 'store.db'}", None
    else:
        url, schema = PG_URL, f"risk_{uuid.uuid4().hex[:12]}"
    sink, store = open_sink(url, schema), RiskStore(url, schema)
    yield sink, store
    sink.close()
    store.close()
    if schema:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def _row(index: int, move: RiskMove | None, request_id: str | None = None) -> tuple:
    return (
        f"decision-{index}", request_id or f"request-{index}", START + timedelta(seconds=index),
        "S0", "execute", "{}", "hash", 1.0, "{}", "{}", f"{index:032x}", move, "", None,
    )  # fmt: skip


def test_moves_are_stored_with_their_decisions_and_read_back(stores):
    sink, store = stores
    sink.commit(
        [
            _row(0, RiskMove("S0", True, 0.995)),
            _row(1, RiskMove("S1", True, 0.991, "acct", 100.0, 100.0)),
            _row(2, RiskMove("S1", False, 0.5, "acct", 120.0, 120.0)),
            _row(3, RiskMove("S2", None, 0.2, "acct", 90.0, 120.0)),
            _row(4, None),
        ]
    )
    latches = store.latches()
    assert {s: (latch.halted, latch.decision_id) for s, latch in latches.items()} == {
        "S0": (True, "decision-0"),
        "S1": (False, "decision-2"),
    }, "the last move per symbol; a decision that moves nothing writes no latch"
    assert latches["S1"].changed_at == START + timedelta(seconds=2)
    (mark,) = store.marks().values()
    assert (mark.book, mark.equity, mark.peak_equity, mark.generation) == ("acct", 90.0, 120.0, 0)
    assert mark.drawdown == pytest.approx(0.25)

    sink.commit([_row(5, RiskMove("S2", None, 0.2, "acct", 80.0, 110.0))])
    assert store.marks()["acct"].peak_equity == 120.0, "a lower peak never lowers the mark"


def test_a_decision_that_loses_its_request_id_moves_nothing(stores):
    sink, store = stores
    sink.commit([_row(0, None, request_id="shared")])
    taken = sink.commit([_row(1, RiskMove("S0", True, 0.999, "acct", 5.0), request_id="shared")]).taken
    assert set(taken) == {"decision-1"}
    assert store.latches() == {} and store.marks() == {}


def test_a_reset_starts_a_new_generation_that_stale_moves_cannot_raise(stores):
    sink, store = stores
    sink.commit([_row(0, RiskMove("S0", None, 0.1, "acct", 100.0, 100.0))])
    sink.commit([_row(1, RiskMove("S0", None, 0.1, "acct", 60.0, 100.0))])
    with pytest.raises(KeyError):
        store.reset_mark("nobody", "alice", "typo")
    reset = store.reset_mark("acct", "alice", "withdrawal")
    assert (reset.peak_equity, reset.generation, reset.reset_by, reset.reset_reason) == (
        60.0, 1, "alice", "withdrawal",
    )  # fmt: skip
    # A worker that had not yet read the reset decides under generation 0: its raise is void.
    sink.commit([_row(2, RiskMove("S0", None, 0.1, "acct", 65.0, 100.0, generation=0))])
    assert store.marks()["acct"].peak_equity == 60.0
    sink.commit([_row(3, RiskMove("S0", None, 0.1, "acct", 70.0, 70.0, generation=1))])
    assert (store.marks()["acct"].equity, store.marks()["acct"].peak_equity) == (70.0, 70.0)
    assert store.reset_mark("acct", "bob", "new base", peak_equity=200.0).peak_equity == 200.0


def test_a_spooled_row_keeps_its_move_and_an_old_one_moves_nothing():
    row = _row(0, RiskMove("S0", True, 0.995, "acct", 1.0, 2.0, 3))
    assert decode_row(encode_row(row)) == row
    with_window = (*row[:WINDOW], "ab" * 16, '{"close":[1.0]}')
    assert decode_row(encode_row(with_window)) == with_window, "a spooled row keeps its bar window"
    old = encode_row(_row(1, None)).replace(b',null,"",null]', b"]")  # spooled before moves were kept
    assert decode_row(old)[RISK_MOVE:] == (None, "", None)


def test_a_refused_row_keeps_its_move_readable():
    move = RiskMove("S0", True, 0.995, "acct", 1.0, 2.0, 3)
    assert json.loads(rejected_json(_row(0, move)))[RISK_MOVE] == move.as_list()
