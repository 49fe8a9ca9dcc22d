"""The order ledger on SQLite and on the real PostgreSQL server: what is written survives, states move
one way, one publisher holds a deployment at a time."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg import sql

from nexus_assets.live_engine import LedgerBusyError, Order, OrderLedger, OrderRequest
from nexus_assets.live_engine.reconcile import InFlightError, reconcile

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def location(request, tmp_path) -> Iterator[tuple[str, str | None]]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.db'}", None
        return
    schema = f"ledger_test_{uuid.uuid4().hex[:12]}"
    yield PG_URL, schema
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture
def ledger(location) -> Iterator[OrderLedger]:
    store = OrderLedger(*location)
    yield store
    store.close()


def request(symbol: str = "AAPL", key: str | None = None, **changes) -> OrderRequest:
    fields = {
        "side": "buy",
        "quantity": 10.0,
        "deployment_id": "dep-001",
        "client_key": key or f"a1:{symbol}:1",
    }
    return OrderRequest(symbol, **{**fields, **changes})


def engine_order(intent_request: OrderRequest, order_id: str, created_at: datetime, **changes) -> Order:
    fields = {
        "id": order_id,
        "status": "pending",
        "symbol": intent_request.symbol,
        "side": intent_request.side,
        "type": intent_request.type,
        "quantity": intent_request.quantity,
        "price": None,
        "filled_quantity": None,
        "filled_price": None,
        "deployment_id": intent_request.deployment_id,
        "idempotency_key": None,
        "created_at": created_at,
        "updated_at": None,
        "provider_order_id": f"live-order-{order_id}",
    }
    return Order(**{**fields, **changes})


def test_an_intent_is_written_before_the_send_and_read_back_by_another_connection(ledger, location):
    written = ledger.record(request(), "a1")
    assert (written.state, written.engine_order_id) == ("sending", None)
    other = OrderLedger(*location)
    [read] = other.intents(deployment_id="dep-001")
    assert read == written
    assert read.is_open and read.signed_quantity == 10.0
    created = datetime(2026, 12, 7, 21, 0, 5, tzinfo=UTC)
    ledger.placed(written.client_key, engine_order(request(), "ord-001", created))
    [placed] = other.intents(allocation_id="a1")
    assert (placed.state, placed.engine_order_id, placed.engine_status, placed.engine_created_at) == (
        "placed",
        "ord-001",
        "pending",
        created,
    )
    ledger.observed(written.client_key, "filled")
    assert not other.intents()[0].is_open
    other.close()


def test_a_key_is_recorded_once(ledger):
    ledger.record(request(), "a1")
    with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
        ledger.record(request(), "a1")
    assert len(ledger.intents()) == 1


def test_only_orderless_states_settle_an_intent(ledger):
    ledger.record(request(), "a1")
    with pytest.raises(ValueError, match="state: 'placed'"):
        ledger.settle("a1:AAPL:1", "placed", "no")
    with pytest.raises(KeyError):
        ledger.settle("nope", "unsent", "no")
    ledger.settle("a1:AAPL:1", "unsent", "refused")
    [intent] = ledger.intents()
    assert (intent.state, intent.detail, intent.is_open) == ("unsent", "refused", False)


def test_reconcile_adopts_the_matching_unclaimed_order_and_checks_identity(ledger):
    now = datetime.now(UTC)
    sent = request("MSFT", quantity=7.0)
    ledger.record(sent, "a1")
    earlier = engine_order(sent, "ord-001", now - timedelta(hours=1))  # before the intent: not ours
    other_side = engine_order(sent, "ord-002", now, side="sell")
    ours = engine_order(sent, "ord-003", now.replace(microsecond=0))  # the engine keeps whole seconds
    settled = reconcile(ledger, [earlier, other_side, ours], "dep-001")
    assert [(i.client_key, o.id) for i, o in settled.adopted] == [("a1:MSFT:1", "ord-003")]
    # Restarted, the engine hands ord-003 to another order: the placed intent is lost, not refreshed.
    impostor = engine_order(sent, "ord-003", now + timedelta(minutes=5))
    settled = reconcile(ledger, [impostor], "dep-001")
    assert [i.client_key for i in settled.lost] == ["a1:MSFT:1"]
    assert ledger.intents()[0].state == "lost"


def test_reconcile_waits_for_a_young_intent_then_calls_it_unsent(ledger):
    ledger.record(request(), "a1")
    with pytest.raises(InFlightError):
        reconcile(ledger, [], "dep-001")
    assert ledger.intents()[0].state == "sending"
    later = datetime.now(UTC) + timedelta(minutes=1)
    settled = reconcile(ledger, [], "dep-001", now=later)
    assert [i.client_key for i in settled.unsent] == ["a1:AAPL:1"]


def test_one_holder_per_deployment_across_processes(ledger, location):
    url, schema = location
    holder = (
        "import sys, time\n"
        "from nexus_assets.live_engine import OrderLedger\n"
        f"ledger = OrderLedger({url!r}, {schema!r})\n"
        "with ledger.exclusive('dep-001'):\n"
        "    print('held', flush=True)\n"
        "    sys.stdin.readline()\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", holder], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout.readline().strip() == "held"
        with pytest.raises(LedgerBusyError, match="dep-001"), ledger.exclusive("dep-001"):
            pass
        with ledger.exclusive("dep-002"):
            pass  # another deployment is free
    finally:
        process.stdin.write("\n")
        process.stdin.flush()
        process.wait(timeout=10)
    with ledger.exclusive("dep-001"):
        pass  # released when the holder let go
