"""`nexus publish` as a real process against the real-fidelity stand-in, killed where it hurts.

The ledger is the SQLite file of the default set-up or a PostgreSQL schema of its own.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from nexus_assets.live_engine import OrderLedger, OrderRequest
from nexus_assets.sim.process import free_port

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
ALLOCATION = {"AAPL": 0.2, "MSFT": 0.3, "SPY": 0.1}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ledger_env(request, tmp_path) -> Iterator[dict[str, str]]:
    if request.param == "sqlite":
        yield {"NEXUS_LEDGER_DATABASE_URL": f"sqlite:///{tmp_path / 'ledger.db'}"}
        return
    schema = f"ledger_test_{uuid.uuid4().hex[:12]}"
    yield {"NEXUS_LEDGER_DATABASE_URL": PG_URL, "NEXUS_LEDGER_SCHEMA": schema}
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def environment(live_engine, ledger_env: dict[str, str], url: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LIVE_ENGINE_", "NEXUS_LEDGER_"))}
    return {
        **env,
        "LIVE_ENGINE_URL": url or live_engine.base_url,
        "LIVE_ENGINE_API_KEY": live_engine.api_key,
        **ledger_env,
    }


def weights_file(tmp_path: Path, weights: dict[str, float], prices: dict[str, float], name: str) -> Path:
    path = tmp_path / f"{name}.csv"
    lines = ["symbol,target_weight,price", *(f"{s},{w},{prices[s]}" for s, w in weights.items())]
    path.write_text("\n".join(lines) + "\n")
    return path


def command(weights: Path, allocation_id: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "nexus_assets.cli", "publish", "--weights", str(weights), "--allocation-id", allocation_id, *extra]  # fmt: skip


def publish(env, weights: Path, allocation_id: str, *extra: str) -> tuple[int, dict, str]:
    done = subprocess.run(
        command(weights, allocation_id, *extra), env=env, capture_output=True, text=True, timeout=60
    )
    report = json.loads(done.stdout) if done.stdout.strip() else {}
    return done.returncode, report, done.stderr


def ledger_of(ledger_env: dict[str, str]) -> OrderLedger:
    return OrderLedger(ledger_env["NEXUS_LEDGER_DATABASE_URL"], ledger_env.get("NEXUS_LEDGER_SCHEMA"))


def test_the_same_allocation_twice_places_no_new_order(live_engine, sim, ledger_env, tmp_path):
    env = environment(live_engine, ledger_env)
    weights = weights_file(tmp_path, ALLOCATION, sim.state()["closes"], "w")
    code, first, stderr = publish(env, weights, "alloc-a")
    assert code == 0, stderr
    assert first["exact"] and len(first["placed"]) == 3
    code, second, stderr = publish(env, weights, "alloc-a")
    assert code == 0, stderr
    assert second["placed"] == []
    assert [o["id"] for o in second["orders"]] == [o["id"] for o in first["orders"]]
    assert sim.attempts("POST", "/orders") == 3
    assert len(sim.orders()) == 3


def test_killed_after_the_engine_accepted_an_order_the_rerun_places_no_duplicate(
    live_engine, sim, ledger_env, tmp_path
):
    env = environment(live_engine, ledger_env)
    weights = weights_file(tmp_path, ALLOCATION, sim.state()["closes"], "w")
    # The engine takes the first order at once and holds its answer back: the publisher is
    # killed while it waits, after the engine accepted and before the ledger heard of it.
    sim.arm(delay_s=6.0, count=1, method="POST", path_prefix="/orders")
    process = subprocess.Popen(
        command(weights, "alloc-k"), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 30
    while not sim.orders() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.02)
    assert len(sim.orders()) == 1, "the engine accepted the first order"
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    assert process.returncode == -signal.SIGKILL
    ledger = ledger_of(ledger_env)
    assert [(i.symbol, i.state) for i in ledger.intents()] == [("AAPL", "sending")]

    sim.reset()  # disarm; wait for the held-back answer to go out
    code, report, stderr = publish(env, weights, "alloc-k")
    assert code == 0, stderr
    assert report["adopted"] == [sim.orders()[0]["id"]]
    assert sorted(o["symbol"] for o in sim.orders()) == ["AAPL", "MSFT", "SPY"], "no duplicate"
    assert {i.state for i in ledger.intents()} == {"placed"}
    ledger.close()


def test_a_changed_allocation_on_the_same_bar_cancels_the_unfilled_and_places_the_difference(
    live_engine, sim, ledger_env, tmp_path
):
    env = environment(live_engine, ledger_env)
    prices = sim.state()["closes"]
    code, first, _ = publish(env, weights_file(tmp_path, ALLOCATION, prices, "w1"), "alloc-b1")
    assert code == 0
    changed = {"AAPL": 0.2, "MSFT": 0.1, "SPY": 0.0}
    code, second, stderr = publish(env, weights_file(tmp_path, changed, prices, "w2"), "alloc-b2")
    assert code == 0, stderr
    assert sorted(second["cancelled"]) == sorted(o["id"] for o in first["orders"])
    assert {(o["symbol"], o["side"], o["quantity"]) for o in second["orders"]} == {
        ("AAPL", "buy", int(0.2 * 1_000_000 / prices["AAPL"])),
        ("MSFT", "buy", int(0.1 * 1_000_000 / prices["MSFT"])),
    }
    pending = [o for o in sim.orders() if o["status"] == "pending"]
    assert sorted(o["id"] for o in pending) == sorted(second["placed"])


def test_an_unreachable_engine_exits_non_zero_and_records_nothing(live_engine, ledger_env, tmp_path):
    env = environment(live_engine, ledger_env, url=f"http://127.0.0.1:{free_port()}")
    weights = weights_file(tmp_path, ALLOCATION, {"AAPL": 1.0, "MSFT": 2.0, "SPY": 3.0}, "w")
    code, report, stderr = publish(env, weights, "alloc-c")
    assert code == 3
    assert report == {}
    assert "could not reach the Live Engine" in stderr
    ledger = ledger_of(ledger_env)
    assert ledger.intents() == []
    ledger.close()


def test_an_order_the_engine_holds_beyond_the_intended_ones_exits_1(live_engine, sim, client, tmp_path):
    env = environment(live_engine, {"NEXUS_LEDGER_DATABASE_URL": f"sqlite:///{tmp_path / 'l.db'}"})
    weights = weights_file(tmp_path, ALLOCATION, sim.state()["closes"], "w")
    assert publish(env, weights, "alloc-d")[0] == 0
    deployment = sim.orders()[0]["deploymentId"]
    stray = client.place_order(
        OrderRequest("AAPL", "buy", 1.0, deployment_id=deployment, client_key="by-hand")
    )
    code, report, stderr = publish(env, weights, "alloc-d")
    assert code == 1
    assert report["exact"] is False
    assert f"{stray.id}: a pending buy of AAPL that the ledger did not send" in stderr


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("symbol,weight,price\nAAPL,0.1,1\n", "missing column target_weight"),
        ("symbol,target_weight,price\nAAPL,abc,1\n", "line 2, target_weight: not a number: 'abc'"),
        ("symbol,target_weight,price\nAAPL,0.1,1\nAAPL,0.2,1\n", "line 3, symbol: 'AAPL' is listed twice"),
        ("symbol,target_weight,price\nAAPL,0.1,0\n", "line 2, price: must be greater than 0"),
        ("symbol,target_weight,price\nAAPL,nan,1\n", "line 2, target_weight: must be finite"),
        ("symbol,target_weight,price\n,0.1,1\n", "line 2, symbol: is empty"),
    ],
)
def test_a_bad_weights_file_exits_2_naming_the_line_and_column(live_engine, tmp_path, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    env = environment(live_engine, {"NEXUS_LEDGER_DATABASE_URL": f"sqlite:///{tmp_path / 'l.db'}"})
    code, _, stderr = publish(env, path, "alloc-e")
    assert code == 2
    assert message in stderr
    assert not (tmp_path / "l.db").exists()
