"""``nexus serve`` as a real process: refuses weak settings, and ``--bootstrap`` serves on an empty registry."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from process_support import NEXUS, serve_env, start_serve, worker_pids
from serving_support import AUTH, TOKEN, decision_body, free_port

from nexus_assets.sim.process import wait_until_healthy


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
            assert httpx.get(f"{base_url}/ready", headers=AUTH, timeout=10).json()["source"] == "registry"
            body = decision_body(market, request_id=f"boot-{run}", symbol="S2")
            decision = httpx.post(f"{base_url}/v1/decisions", json=body, headers=AUTH, timeout=30)
            assert decision.status_code == 200, decision.text
            assert set(decision.json()["model_versions"].values()) == {"1"}
        finally:
            process.terminate()
            output = process.communicate(timeout=60)[0]
        trained = "bootstrapping champions" in output
        assert trained == (run == "first"), output[-3000:]


def _sockets_on(pid: int, port: int, state: str) -> int:
    """Sockets of process ``pid`` on local TCP ``port`` in ``state`` (01 established, 0A listening)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            count += local_port == port and fields[3] == state and fields[9] in inodes
    return count


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_workers_answer_a_burst_replace_a_dead_worker_and_stop_cleanly(
    trained_registry, market, isolated_state
):
    """uvicorn's supervisor: both workers serve the socket it bound, a dead one is replaced, SIGTERM stops all."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = serve_env(MLFLOW_TRACKING_URI=trained_registry, NEXUS_MODEL_POLL_SECONDS="0")
    command = [NEXUS, "serve", "--workers", "2", "--port", str(port)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    connections: list[socket.socket] = []
    try:
        # Nothing is accepted before both workers have loaded their models.
        wait_until_healthy(f"{base_url}/ready", timeout_s=240, process=process)
        workers = worker_pids(process.pid)
        assert len(workers) == 2
        assert _sockets_on(process.pid, port, "0A") == 1  # the supervisor bound the one listening socket
        # A pool opened at once, as a client's keep-alive pool is: all connected before any request.
        connections = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in range(16)]
        for connection in connections:
            connection.sendall(b"GET /health HTTP/1.1\r\nHost: nexus\r\n\r\n")
        for connection in connections:
            assert connection.recv(4096).startswith(b"HTTP/1.1 200 ")
        held = {worker: _sockets_on(worker, port, "01") for worker in workers}
        assert sum(held.values()) == 16, held  # every connection is held by a worker
        body = decision_body(market, request_id="workers-1", symbol="S1")
        assert httpx.post(f"{base_url}/v1/decisions", json=body, headers=AUTH, timeout=30).status_code == 200

        os.kill(workers[0], signal.SIGKILL)  # a worker that dies is replaced and takes connections again
        deadline = time.monotonic() + 180
        replaced: list[int] = []
        while time.monotonic() < deadline and not replaced:
            replaced = [pid for pid in worker_pids(process.pid) if pid not in workers]
            time.sleep(0.2)
        assert replaced
        workers.append(replaced[0])
        fresh: list[socket.socket] = []
        while time.monotonic() < deadline and _sockets_on(replaced[0], port, "01") == 0:
            fresh.append(socket.create_connection(("127.0.0.1", port), timeout=30))  # until it has registered
            fresh[-1].sendall(b"GET /health HTTP/1.1\r\nHost: nexus\r\n\r\n")
            assert fresh[-1].recv(4096).startswith(b"HTTP/1.1 200 ")
            time.sleep(0.2)
        connections += fresh
        assert _sockets_on(replaced[0], port, "01") >= 1

        second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
        assert second.returncode == 3  # the port is taken: refused, not shared
        assert "cannot listen" in second.stdout + second.stderr
    finally:
        for connection in connections:
            connection.close()
        process.terminate()
        output = process.communicate(timeout=90)[0]
    assert process.returncode == 0, output[-3000:]
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers), output[-3000:]


@pytest.mark.slow
def test_sigterm_with_a_slow_client_drains_in_bounded_time_and_keeps_every_decision(
    trained_registry, market, isolated_state, tmp_path
):
    """A client that never finishes its body cannot hold shutdown past NEXUS_SHUTDOWN_TIMEOUT_S,
    and every decision answered before SIGTERM is in the audit log afterwards."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    audit = tmp_path / "audit.db"
    env = serve_env(
        MLFLOW_TRACKING_URI=trained_registry,
        NEXUS_MODEL_POLL_SECONDS="0",
        NEXUS_AUDIT_DATABASE_URL=f"sqlite:///{audit}",
        NEXUS_SHUTDOWN_TIMEOUT_S="2",
        NEXUS_BODY_TIMEOUT_S="300",
    )
    process = start_serve(port, env)
    slow = None
    try:
        wait_until_healthy(f"{base_url}/ready", timeout_s=240, process=process)
        answered = []
        with httpx.Client(base_url=base_url, headers=AUTH, timeout=30) as client:
            for index in range(20):
                body = decision_body(market, request_id=f"drain-{index}", symbol="S1")
                assert client.post("/v1/decisions", json=body).status_code == 200
                answered.append(f"drain-{index}")
        slow = socket.create_connection(("127.0.0.1", port), timeout=30)
        slow.sendall(
            b"POST /v1/decisions HTTP/1.1\r\nHost: nexus\r\nContent-Type: application/json\r\n"
            + f"Authorization: Bearer {TOKEN}\r\nContent-Length: 5000\r\n\r\n".encode()
            + b'{"request_id": "never-finished", '
        )
        time.sleep(0.5)
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=60)[0]
        took = time.monotonic() - started
    finally:
        if slow is not None:
            slow.close()
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=30)
    # uvicorn re-raises the signal it handled once it has shut down.
    assert process.returncode in (0, -signal.SIGTERM), output[-3000:]
    assert took < 8, (took, output[-3000:])  # 2 s of drain, then the audit log is written out
    import sqlite3

    with sqlite3.connect(audit) as db:
        stored = {row[0] for row in db.execute("SELECT request_id FROM decision_audit")}
    assert stored == set(answered)


def _scrape(connection: http.client.HTTPConnection) -> dict[str, float]:
    """One scrape on ``connection``: each sample's value by ``name{labels}``, labels sorted."""
    from prometheus_client.parser import text_string_to_metric_families

    connection.request("GET", "/metrics", headers=AUTH)
    text = connection.getresponse().read().decode()
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()) if k != "pid")
            key = f"{sample.name}{{{labels}}}"
            values[key] = values.get(key, 0.0) + sample.value
    return values


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_one_scrape_of_any_worker_counts_every_worker(trained_registry, market, isolated_state):
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = serve_env(MLFLOW_TRACKING_URI=trained_registry, NEXUS_MODEL_POLL_SECONDS="0")
    process = start_serve(port, env, "--workers", "2")
    connections: list[http.client.HTTPConnection] = []
    try:
        wait_until_healthy(f"{base_url}/ready", timeout_s=240, process=process)
        workers = worker_pids(process.pid)
        held = dict.fromkeys(workers, 0)
        while min(held.values()) == 0 or len(connections) < 16:  # until both workers hold some
            assert len(connections) < 200, held
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            connection.request("GET", "/health")
            assert connection.getresponse().read()
            connections.append(connection)
            held = {worker: _sockets_on(worker, port, "01") for worker in workers}
        for index, connection in enumerate(connections):
            body = json.dumps(decision_body(market, request_id=f"scraped-{index}", symbol="S1"))
            connection.request("POST", "/v1/decisions", body, {**AUTH, "Content-Type": "application/json"})
            reply = connection.getresponse()
            assert (reply.status, bool(reply.read())) == (200, True)
        scrapes = [_scrape(connection) for connection in connections]  # through both workers
    finally:
        for connection in connections:
            connection.close()
        process.terminate()
        output = process.communicate(timeout=90)[0]
    assert process.returncode == 0, output[-3000:]
    count = len(connections)
    for values in scrapes:
        made = sum(v for k, v in values.items() if k.startswith("nexus_decisions_total{"))
        assert made == count, (held, values)
        assert values["nexus_http_requests_total{method=POST,route=/v1/decisions,status=200}"] == count
        assert values["nexus_audit_written_total{}"] == count
        assert values["nexus_audit_queue_depth{}"] == 0
        versions = [k for k, v in values.items() if k.startswith("nexus_model_version_info{") and v == 1]
        assert len(versions) == 3, versions
