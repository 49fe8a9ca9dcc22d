"""Publishing through our ledger to the real-fidelity stand-in: every order sent exactly once.

The stand-in behaves like the real engine (keys ignored, every POST a new order), so nothing
here leans on the engine to deduplicate.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from nexus_assets.live_engine import (
    LedgerBusyError,
    LiveEngineClient,
    LiveEngineConnectionError,
    LiveEngineProtocolError,
    OrderLedger,
    OrderRequest,
    PublishInterruptedError,
    publish_allocation,
)
from nexus_assets.live_engine.reconcile import InFlightError
from nexus_assets.sim.process import free_port

WEIGHTS = {"AAPL": 0.25, "MSFT": 0.25, "SPY": 0.3}
PAPER = "portfolio-paper-001"


@pytest.fixture
def ledger(tmp_path) -> Iterator[OrderLedger]:
    store = OrderLedger(f"sqlite:///{tmp_path / 'ledger.db'}")
    yield store
    store.close()


def publish(client, ledger, deployment, weights, allocation_id, prices, **options):
    return publish_allocation(
        client,
        ledger,
        weights,
        prices=prices,
        allocation_id=allocation_id,
        deployment_id=deployment.id,
        portfolio_id=PAPER,
        **options,
    )


def positions(client) -> dict[str, float]:
    return client.get_portfolio(PAPER).quantities


def test_the_same_allocation_twice_places_one_set_of_orders(client, sim, deployment, ledger):
    prices = sim.state()["closes"]
    first = publish(client, ledger, deployment, WEIGHTS, "alloc-1", prices)
    second = publish(client, ledger, deployment, WEIGHTS, "alloc-1", prices)

    assert [o.symbol for o in first.placed] == ["AAPL", "MSFT", "SPY"]
    assert first.exact and second.exact
    assert second.placed == ()
    assert [o.id for o in second.orders] == [o.id for o in first.placed]
    assert sorted(first.client_keys.values()) == ["alloc-1:AAPL:1", "alloc-1:MSFT:1", "alloc-1:SPY:1"]
    assert len(sim.orders(deployment.id)) == 3
    assert sim.attempts("POST", "/orders") == 3
    assert first.divergences == () and first.problems == ()


def test_orders_fill_to_the_target_weights_and_a_republish_trades_nothing(client, sim, deployment, ledger):
    prices = sim.state()["closes"]
    first = publish(client, ledger, deployment, WEIGHTS, "alloc-2", prices)
    assert {o.status for o in first.orders} == {"pending"}
    assert set(sim.tick()["filled"]) == {o.id for o in first.placed}
    held = positions(client)
    assert held == {o.symbol: o.quantity for o in first.placed}
    for symbol, weight in WEIGHTS.items():
        assert held[symbol] == int(weight * deployment.capital / prices[symbol])

    again = publish(client, ledger, deployment, WEIGHTS, "alloc-2", sim.state()["closes"])
    assert again.placed == () and again.exact
    assert {o.status for o in again.orders} == {"filled"}
    assert len(sim.orders(deployment.id)) == 3


def test_a_newer_allocation_on_the_same_bar_cancels_the_unfilled_and_places_the_difference(
    client, sim, deployment, ledger
):
    prices = sim.state()["closes"]
    older = publish(client, ledger, deployment, WEIGHTS, "alloc-3a", prices)
    newer = publish(client, ledger, deployment, {"AAPL": 0.1, "MSFT": 0.25}, "alloc-3b", prices)

    assert sorted(o.id for o in newer.cancelled) == sorted(o.id for o in older.placed)
    assert {o["id"]: o["status"] for o in sim.orders(deployment.id) if o["id"] in older.client_keys} == {
        o.id: "cancelled" for o in older.placed
    }
    # Nothing filled, so the difference from the holdings (none) is the new target itself.
    assert {(o.symbol, o.side, o.quantity) for o in newer.placed} == {
        ("AAPL", "buy", int(0.1 * deployment.capital / prices["AAPL"])),
        ("MSFT", "buy", int(0.25 * deployment.capital / prices["MSFT"])),
    }
    assert newer.exact
    sim.tick()
    assert set(positions(client)) == {"AAPL", "MSFT"}


def test_a_newer_allocation_after_fills_trades_only_the_difference(client, sim, deployment, ledger):
    prices = sim.state()["closes"]
    publish(client, ledger, deployment, WEIGHTS, "alloc-4a", prices)
    sim.tick()
    held = positions(client)
    report = publish(client, ledger, deployment, {"AAPL": 0.25, "MSFT": 0.4}, "alloc-4b", prices)
    trades = {o.symbol: (o.side, o.quantity) for o in report.placed}
    assert report.cancelled == ()  # everything had filled: nothing left to cancel
    assert trades["SPY"] == ("sell", held["SPY"])
    msft_target = int(0.4 * report.equity / prices["MSFT"])
    assert trades["MSFT"] == ("buy", msft_target - held["MSFT"])
    assert "AAPL" not in trades or trades["AAPL"][1] <= 2  # re-sized on today's equity, a share or two
    assert report.placed[0].side == "sell"  # sells first free the cash


def test_a_lost_answer_stops_the_publish_and_the_next_one_adopts_the_order(
    live_engine, client, sim, deployment, ledger
):
    prices = sim.state()["closes"]
    sim.arm(delay_s=1.0, count=1, method="POST", path_prefix="/orders")
    with (
        LiveEngineClient(
            live_engine.base_url, live_engine.api_key, timeout_s=0.3, backoff_base_s=0.01
        ) as slow,
        pytest.raises(PublishInterruptedError, match="alloc-5:AAPL:1"),
    ):
        publish(
            client=slow,
            ledger=ledger,
            deployment=deployment,
            weights=WEIGHTS,
            allocation_id="alloc-5",
            prices=prices,
        )
    sim.settle()
    assert [i.state for i in ledger.intents(allocation_id="alloc-5")] == ["sending"]
    assert len(sim.orders(deployment.id)) == 1, "the order the lost answer was about exists"

    resumed = publish(client, ledger, deployment, WEIGHTS, "alloc-5", prices)
    assert [order.symbol for _, order in resumed.reconciliation.adopted] == ["AAPL"]
    assert [o.symbol for o in resumed.placed] == ["MSFT", "SPY"]
    assert sorted(o["symbol"] for o in sim.orders(deployment.id)) == ["AAPL", "MSFT", "SPY"]
    assert resumed.exact


def test_an_unanswered_intent_is_settled_by_the_engines_list(client, sim, deployment, ledger):
    """An intent written just before a crash whose request never left: within the grace it may
    still be on its way (stop); after it, it never arrived (sent again, as a new attempt)."""
    prices = sim.state()["closes"]
    ledger.record(
        OrderRequest("AAPL", "buy", 100.0, deployment_id=deployment.id, client_key="alloc-6:AAPL:1"),
        "alloc-6",
    )
    with pytest.raises(InFlightError, match="alloc-6:AAPL:1"):
        publish(client, ledger, deployment, WEIGHTS, "alloc-6", prices)
    assert sim.orders(deployment.id) == []
    report = publish(client, ledger, deployment, WEIGHTS, "alloc-6", prices, in_flight_grace_s=0.0)
    assert [i.client_key for i in report.reconciliation.unsent] == ["alloc-6:AAPL:1"]
    assert sorted(report.client_keys.values()) == ["alloc-6:AAPL:2", "alloc-6:MSFT:1", "alloc-6:SPY:1"]
    assert report.exact


def test_orders_the_engine_forgot_are_lost_and_placed_again(client, sim, deployment, ledger):
    prices = sim.state()["closes"]
    first = publish(client, ledger, deployment, WEIGHTS, "alloc-7", prices)
    assert sim.restart() == 3
    # The restarted engine hands the same ids to other orders: an id alone is not our order.
    client.place_order(OrderRequest("SPY", "sell", 1.0, deployment_id="someone-else", client_key="x"))
    again = publish(client, ledger, deployment, WEIGHTS, "alloc-7", prices)
    assert sorted(i.client_key for i in again.reconciliation.lost) == sorted(first.client_keys.values())
    assert sorted(again.client_keys.values()) == ["alloc-7:AAPL:2", "alloc-7:MSFT:2", "alloc-7:SPY:2"]
    assert again.exact


def test_a_rejected_order_is_reported_and_the_rest_are_placed(client, sim, deployment, ledger):
    prices = sim.state()["closes"]
    sim.arm(
        status=400,
        count=1,
        method="POST",
        path_prefix="/orders",
        body='{"error": "Missing required order fields"}',
    )
    report = publish(client, ledger, deployment, WEIGHTS, "alloc-8", prices)
    assert report.rejected == (("AAPL", "Missing required order fields"),)
    assert [o.symbol for o in report.placed] == ["MSFT", "SPY"]
    assert not report.exact
    assert report.problems == ("alloc-8:AAPL:1: rejected by the engine (Missing required order fields)",)
    assert [d.symbol for d in report.divergences] == ["AAPL"]
    assert report.divergences[0].gap == pytest.approx(0.25)
    again = publish(client, ledger, deployment, WEIGHTS, "alloc-8", prices)
    assert again.placed == () and not again.exact, "a refused order is not retried blindly"


def test_an_order_the_ledger_did_not_send_is_a_problem(client, sim, deployment, ledger):
    prices = sim.state()["closes"]
    stray = client.place_order(
        OrderRequest("AAPL", "sell", 5.0, deployment_id=deployment.id, client_key="manual")
    )
    report = publish(client, ledger, deployment, WEIGHTS, "alloc-9", prices)
    assert report.problems == (f"{stray.id}: a pending sell of AAPL that the ledger did not send",)
    assert not report.exact


def test_an_unreachable_engine_records_nothing(deployment, ledger, sim):
    with (
        LiveEngineClient(f"http://127.0.0.1:{free_port()}", "k", max_attempts=1) as gone,
        pytest.raises(LiveEngineConnectionError),
    ):
        publish(gone, ledger, deployment, WEIGHTS, "alloc-10", {"AAPL": 1.0, "MSFT": 1.0, "SPY": 1.0})
    assert ledger.intents() == []


def test_an_unreadable_engine_records_nothing(client, sim, deployment, ledger):
    sim.arm(malformed=True, count=1, method="GET", path_prefix="/portfolios", body='{"portfolio": {"id": 1}}')
    with pytest.raises(LiveEngineProtocolError, match=r"portfolio\.positions: is missing"):
        publish(client, ledger, deployment, WEIGHTS, "alloc-11", sim.state()["closes"])
    assert ledger.intents() == []
    assert sim.orders(deployment.id) == []


def test_bad_prices_fail_before_anything_is_recorded_or_placed(client, sim, deployment, ledger):
    with pytest.raises(ValueError, match="prices: no price for 'SPY'"):
        publish(client, ledger, deployment, WEIGHTS, "alloc-12", {"AAPL": 1.0, "MSFT": 1.0})
    assert ledger.intents() == []
    assert sim.orders(deployment.id) == []


def test_one_publisher_at_a_time_per_deployment(client, sim, deployment, ledger, tmp_path):
    other = OrderLedger(f"sqlite:///{tmp_path / 'ledger.db'}")
    with other.exclusive(deployment.id), pytest.raises(LedgerBusyError, match=deployment.id):
        publish(client, ledger, deployment, WEIGHTS, "alloc-13", sim.state()["closes"])
    other.close()
    assert sim.orders(deployment.id) == []
