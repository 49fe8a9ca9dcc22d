"""What one audit commit costs in SQLite, by page size and batch size.

Rows as the decision service writes them (request without its bars, response, request-id
claim, a known bar window) go through ``SqliteSink.commit`` into a fresh file per page size;
prints the median time of a commit and per row. Run: `.venv/bin/python benchmarks/audit_commit.py`.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from nexus_serving.audit import sinks
from nexus_serving.audit.sinks import AuditRow, SqliteSink

REQUEST = (
    '{"request_id":"x","signal":{"signal_id":"s","strategy_id":"st","symbol":"S1","side":"buy",'
    '"strength":0.8,"timestamp":"2026-12-07T11:00:00Z"},"portfolio":{"equity":1000000.0,"positions":{"S1":100.0}}}'
)
RESPONSE = (
    '{"request_id":"x","decision_id":"d","action":"execute","target_weight":0.1,"quantity":3.2,'
    '"confidence":0.5,"predicted_return":0.001,"volatility_forecast":0.02,"anomaly_score":0.1,'
    '"reasons":["STALE_MODEL: trade-nexus-predictor v1 is stale"],"model_versions":{"a":"1","b":"2","c":"3"},'
    '"decided_at":"2026-12-07T12:00:00Z"}'
)


def row() -> AuditRow:
    key = uuid.uuid4().hex
    return (
        key, f"r-{key}", datetime.now(UTC), "S1", "execute", '{"a":"1"}', "f" * 64, 1.0, REQUEST, RESPONSE,
        uuid.uuid4().hex, None, "ab" * 16, None,
    )  # fmt: skip


def measure(page_size: int, batch: int, commits: int, folder: Path) -> float:
    """Median seconds of one commit of ``batch`` rows into a file of ``page_size`` pages."""
    sinks.PAGE_SIZE = page_size
    sink = SqliteSink(folder / f"audit-{page_size}-{batch}.db")
    try:
        for _ in range(50):  # the file, its tables and a few pages of each index
            sink.commit([row() for _ in range(batch)])
        times = []
        for _ in range(commits):
            rows = [row() for _ in range(batch)]
            started = time.perf_counter()
            sink.commit(rows)
            times.append(time.perf_counter() - started)
        return statistics.median(times)
    finally:
        sink.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--commits", type=int, default=400, help="commits measured per setting")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="nexus-bench-audit-") as folder:
        print(f"{'page size':>9} {'rows':>5} {'commit us':>10} {'per row us':>11}")
        for batch in (1, 4, 16):
            for page_size in (4096, 16384):  # interleaved: the machine's noise hits both alike
                median = measure(page_size, batch, args.commits, Path(folder))
                print(
                    f"{page_size:>9} {batch:>5} {median * 1e6:>10.0f} {median * 1e6 / batch:>11.0f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
