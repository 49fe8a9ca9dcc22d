"""What exactly-once costs: the ledger's writes per order, and a whole publish against the stand-in.

Two figures, both printed:
- ``OrderLedger.record`` + ``placed`` (the two commits every order pays) on a fresh SQLite file
  (WAL, ``synchronous=FULL``) and, when it answers, on PostgreSQL at 127.0.0.1:5432;
- ``publish_allocation`` of a fresh allocation over ``--symbols`` symbols against the Live Engine
  stand-in as a real process (reads, reconcile, sends, verify), and a repeat of it (reads only).

Run: ``.venv/bin/python benchmarks/publish.py [--orders 500] [--symbols 20] [--repeats 5]``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx

from nexus_assets.live_engine import LiveEngineClient, Order, OrderLedger, OrderRequest, publish_allocation
from nexus_assets.sim.process import running_live_engine_stand_in

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


def ledger_writes(ledger: OrderLedger, orders: int) -> list[float]:
    """Seconds per order for the intent and its answer."""
    now = datetime.now(UTC)
    spent = []
    for i in range(orders):
        request = OrderRequest("AAPL", "buy", 1.0, deployment_id="dep-001", client_key=f"bench:{i}:1")
        answer = Order(
            f"ord-{i}", "pending", "AAPL", "buy", "market", 1.0, None, None, None, "dep-001", None, now, None
        )
        started = time.perf_counter()
        ledger.record(request, "bench")
        ledger.placed(request.client_key, answer)
        spent.append(time.perf_counter() - started)
    return spent


def report(name: str, seconds: list[float]) -> None:
    ms = sorted(s * 1000 for s in seconds)
    p99 = ms[min(len(ms) - 1, int(0.99 * len(ms)))]
    print(f"{name:44s} n={len(ms):4d}  p50 {statistics.median(ms):7.3f} ms  p99 {p99:7.3f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=500)
    parser.add_argument("--symbols", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        sqlite = OrderLedger(f"sqlite:///{Path(folder) / 'ledger.db'}")
        report("ledger per order, SQLite (record + placed)", ledger_writes(sqlite, args.orders))
        sqlite.close()
    schema = f"ledger_bench_{uuid.uuid4().hex[:8]}"
    try:
        postgres = OrderLedger(PG_URL, schema)
        report("ledger per order, PostgreSQL (record + placed)", ledger_writes(postgres, args.orders))
        postgres.close()
        import psycopg

        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    except Exception as exc:
        print(f"ledger per order, PostgreSQL: skipped ({type(exc).__name__}: {exc})")

    symbols = tuple(f"S{i}" for i in range(args.symbols))
    weights = {s: 0.9 / len(symbols) for s in symbols}
    with (
        running_live_engine_stand_in(symbols=symbols, initial_bars=300) as engine,
        tempfile.TemporaryDirectory() as folder,
    ):
        ledger = OrderLedger(f"sqlite:///{Path(folder) / 'ledger.db'}")
        with LiveEngineClient(engine.base_url, engine.api_key) as client:
            deployment = client.create_deployment("bench", mode="paper", capital=1_000_000.0)
            prices = httpx.get(f"{engine.base_url}/_sim/state").json()["state"]["closes"]
            fresh, repeat = [], []
            for r in range(args.repeats):
                allocation = f"bench-{r}"
                for bucket in (fresh, repeat):
                    started = time.perf_counter()
                    result = publish_allocation(
                        client,
                        ledger,
                        weights,
                        prices=prices,
                        allocation_id=allocation,
                        deployment_id=deployment.id,
                        portfolio_id="portfolio-paper-001",
                    )
                    bucket.append(time.perf_counter() - started)
                    assert result.exact, result.problems
        ledger.close()
    report(f"publish, new allocation ({args.symbols} orders, superseding)", fresh)
    report("publish, the same allocation again", repeat)


if __name__ == "__main__":
    main()
