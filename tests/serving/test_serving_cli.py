"""``nexus serve`` as a real process: refuses weak settings, and ``--bootstrap`` serves on an empty registry."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from serving_support import AUTH, TOKEN, decision_body, free_port

from nexus_assets.sim.process import wait_until_healthy

NEXUS = str(Path(sys.executable).with_name("nexus"))


def serve_env(**extra: str) -> dict[str, str]:
    return {**os.environ, "NEXUS_ENV": "test", "NEXUS_API_TOKENS": TOKEN, **extra}


def test_serve_refuses_to_start_without_tokens_outside_development():
    env = {**os.environ, "NEXUS_ENV": "production"}
    env.pop("NEXUS_API_TOKENS", None)
    result = subprocess.run([NEXUS, "serve"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "NEXUS_API_TOKENS" in result.stderr


@pytest.mark.slow
def test_bootstrap_trains_champions_once_then_serves(market, isolated_state):
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = serve_env(NEXUS_MODEL_POLL_SECONDS="0")
    for run in ("first", "second"):
        process = subprocess.Popen(
            [NEXUS, "serve", "--bootstrap", "--port", str(port)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            wait_until_healthy(f"{base_url}/ready", timeout_s=240, process=process)
            assert httpx.get(f"{base_url}/ready", timeout=10).json()["source"] == "registry"
            body = decision_body(market, request_id=f"boot-{run}", symbol="S2")
            decision = httpx.post(f"{base_url}/v1/decisions", json=body, headers=AUTH, timeout=30)
            assert decision.status_code == 200, decision.text
            assert set(decision.json()["model_versions"].values()) == {"1"}
        finally:
            process.terminate()
            output = process.communicate(timeout=60)[0]
        trained = "bootstrapping champions" in output
        assert trained == (run == "first"), output[-3000:]
