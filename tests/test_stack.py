"""`make run` end to end: the stack comes up, the UI answers, the main job succeeds, `make stop` stops it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from nexus_assets.sim.process import free_port

ROOT = Path(__file__).resolve().parent.parent
NEXUS = str(Path(sys.executable).parent / "nexus")

RUN_STATUS = """
query ($runId: ID!) { runOrError(runId: $runId) { __typename ... on Run { status } } }
"""


def _run_status(dagster_url: str, run_id: str) -> str:
    reply = httpx.post(
        f"{dagster_url}/graphql", json={"query": RUN_STATUS, "variables": {"runId": run_id}}, timeout=10
    )
    return reply.json()["data"]["runOrError"]["status"]


@pytest.mark.slow
def test_nexus_up_serves_the_ui_runs_the_main_job_and_down_stops_it(isolated_state: Path):
    dagster_port, lona_port = free_port(), free_port()
    env = {**os.environ, "NEXUS_HOME": str(isolated_state)}
    env.pop("DAGSTER_HOME")  # `nexus up` sets its own under NEXUS_HOME
    dagster_url = f"http://127.0.0.1:{dagster_port}"
    try:
        up = subprocess.run(
            [NEXUS, "up", "--dagster-port", str(dagster_port), "--lona-port", str(lona_port)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=400,
        )
        assert up.returncode == 0, up.stdout + up.stderr
        assert f"Dagster UI:         {dagster_url}" in up.stdout
        run_id = up.stdout.split(f"{dagster_url}/runs/")[1].split()[0]
        assert httpx.get(f"{dagster_url}/server_info", timeout=10).status_code == 200
        deadline, status = time.monotonic() + 300, "QUEUED"
        while time.monotonic() < deadline and status not in ("SUCCESS", "FAILURE", "CANCELED"):
            time.sleep(2)
            status = _run_status(dagster_url, run_id)
        logs = "\n".join(p.read_text()[-3000:] for p in (isolated_state / "logs").glob("*.log"))
        assert status == "SUCCESS", logs
        data = isolated_state / "data"
        assert {p.stem for p in data.glob("*.parquet")} >= {
            "market_bars",
            "lona_strategies",
            "lona_signals",
            "features",
        }
    finally:
        down = subprocess.run([NEXUS, "down"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert "dagster" in down.stdout
    assert "lona-stand-in" in down.stdout
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{dagster_url}/server_info", timeout=2)
    assert not list((isolated_state / "run").glob("*.pid"))
