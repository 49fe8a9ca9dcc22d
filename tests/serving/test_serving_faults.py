"""Faults against ``nexus serve`` as a real process: hostile connections must not slow anyone else."""

from __future__ import annotations

import socket
import statistics
import threading
import time

import httpx
import pytest
from process_support import serve_env, start_serve
from serving_support import AUTH, decision_body, free_port

from nexus_assets.sim.process import wait_until_healthy

pytestmark = pytest.mark.slow

SLOW_CONNECTIONS = 400
P99_TARGET_MS = 50.0


def _slow_head(port: int, stop: threading.Event, held: list[socket.socket]) -> None:
    """A connection that sends its head one byte a second, as a slowloris client does."""
    line = b"POST /v1/decisions HTTP/1.1\r\nHost: nexus\r\nX-Slow: " + b"a" * 200
    try:
        connection = socket.create_connection(("127.0.0.1", port), timeout=30)
    except OSError:
        return
    held.append(connection)
    for byte in line:
        if stop.wait(1.0):
            return
        try:
            connection.sendall(bytes([byte]))
        except OSError:
            return


def test_400_slow_connections_leave_other_clients_answered_fast(trained_registry, market, isolated_state):
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = serve_env(MLFLOW_TRACKING_URI=trained_registry, NEXUS_MODEL_POLL_SECONDS="0")
    process = start_serve(port, env)
    stop = threading.Event()
    held: list[socket.socket] = []
    try:
        wait_until_healthy(f"{base_url}/ready", timeout_s=240, process=process)
        slow = [threading.Thread(target=_slow_head, args=(port, stop, held)) for _ in range(SLOW_CONNECTIONS)]
        for thread in slow:
            thread.start()
        deadline = time.monotonic() + 30
        while len(held) < SLOW_CONNECTIONS and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(held) == SLOW_CONNECTIONS
        latencies, statuses = [], []
        with httpx.Client(base_url=base_url, headers=AUTH, timeout=30) as client:
            for index in range(20):  # warm-up
                client.post(
                    "/v1/decisions", json=decision_body(market, request_id=f"warm-{index}", symbol="S1")
                )
            ends = time.monotonic() + 6  # within the 10 s head timeout: all 400 are still open
            index = 0
            while time.monotonic() < ends:
                body = decision_body(market, request_id=f"beside-slow-{index}", symbol="S1")
                started = time.perf_counter()
                reply = client.post("/v1/decisions", json=body)
                latencies.append((time.perf_counter() - started) * 1000)
                statuses.append(reply.status_code)
                index += 1
        open_now = sum(1 for thread in slow if thread.is_alive())
    finally:
        stop.set()
        for connection in held:
            connection.close()
        process.terminate()
        output = process.communicate(timeout=60)[0]
    p50 = statistics.median(latencies)
    p99 = statistics.quantiles(latencies, n=100)[98]
    print(
        f"\n{SLOW_CONNECTIONS} slow connections open: {len(latencies)} decisions beside them, "
        f"p50 {p50:.2f} ms, p99 {p99:.2f} ms, max {max(latencies):.2f} ms"
    )
    assert open_now == SLOW_CONNECTIONS, "the slow connections were still being sent while measured"
    assert set(statuses) == {200}, output[-2000:]
    assert p99 < P99_TARGET_MS, (p50, p99)
