"""The serving benchmark's load generator: keep-alive requests, each with its own request id."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

ANSWER = b'{"ok":true}'


def _load_benchmark() -> ModuleType:
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "serving.py"
    spec = importlib.util.spec_from_file_location("serving_benchmark", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def echo_server() -> Iterator[tuple[int, list[bytes]]]:
    """A tiny keep-alive HTTP server that records every body it gets and answers 200."""
    bodies: list[bytes] = []
    loop = asyncio.new_event_loop()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                )
                bodies.append(await reader.readexactly(length))
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(ANSWER), ANSWER))
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = loop.run_until_complete(asyncio.start_server(handle, sock=sock))
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield sock.getsockname()[1], bodies
    finally:
        loop.call_soon_threadsafe(server.close)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)


def test_load_generator_sends_unique_ids_over_keep_alive(echo_server):
    bench = _load_benchmark()
    port, bodies = echo_server
    template = b'{"request_id":"r-' + bench.ID_MARK.encode() + b'","x":1}'
    factory = bench.RequestFactory("127.0.0.1", port, "/v1/decisions", [template], {"X-Test": "1"})
    result = asyncio.run(bench.drive("127.0.0.1", port, factory, 2, warmup=0.1, duration=0.4))
    assert result.requests > 10 and result.errors == 0
    assert result.percentile(50) > 0
    assert len(set(bodies)) == len(bodies)
    assert all(bench.ID_MARK.encode() not in body for body in bodies)


def test_server_cpu_counts_the_whole_process_tree():
    """Workers are children of the server process: their CPU must be in the figure."""
    bench = _load_benchmark()
    burn = (
        "import time\nend = time.process_time() + 0.4\nwhile time.process_time() < end: pass\ntime.sleep(30)"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", f"import subprocess, sys; subprocess.run([sys.executable, '-c', {burn!r}])"]
    )
    try:
        deadline = time.monotonic() + 20
        while bench.tree_cpu_seconds(parent.pid) < 0.4 and time.monotonic() < deadline:
            time.sleep(0.05)
        total = bench.tree_cpu_seconds(parent.pid)
        own = bench.tree_cpu_seconds(os.getpid())
    finally:
        parent.kill()
        parent.wait()
    assert total >= 0.4  # the grandchild's burn, which the parent's own stat does not include
    assert own > 0
    assert bench.tree_cpu_seconds(parent.pid) == 0.0  # gone: nothing left to count


def test_the_mlflow_ratio_is_peak_against_peak(capsys):
    """A level where MLflow's workers happened to be unbalanced must not decide the verdict."""
    bench = _load_benchmark()

    def level(concurrency: int, requests: int, cpu_ms: float) -> object:
        cpu_s = requests * cpu_ms / 1e3
        return bench.LevelResult(concurrency, requests, 0, 1.0, np.full(requests, 0.001), cpu_s, 0.1)

    nexus = [level(1, 1_000, 0.8), level(8, 2_800, 0.6), level(32, 3_000, 0.6)]
    mlflow = [level(1, 700, 1.4), level(8, 700, 1.4), level(32, 1_400, 1.5)]  # c=8: 4.0x by chance
    bench.check_targets(nexus, mlflow)
    out = capsys.readouterr().out
    verdict = next(line for line in out.splitlines() if "4x mlflow" in line)
    assert "3000/s at c=32 against 1400/s at c=32, 2.1x, NOT met" in verdict
    assert "per second of server CPU: 2.5x (0.60 ms per decision against 1.50 ms" in out
