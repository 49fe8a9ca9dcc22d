"""Decision service latency and throughput over real HTTP, against ``mlflow models serve``.

Bootstraps small champions into a temporary MLflow registry, starts ``nexus serve`` (uvicorn,
a subprocess on a free loopback port), and drives ``POST /v1/decisions`` with a lean asyncio
load generator: keep-alive HTTP/1.1 connections, request bytes encoded up front with a unique
``request_id`` spliced into each, unique across runs (a repeated id would be answered from the
idempotency store).
Then it serves the same predictor with ``mlflow models serve`` and drives ``/invocations`` with
the equivalent feature window. Each level runs a warm-up, then a fixed duration; the table has
p50/p99 latency and throughput per concurrency, and the throughput ratio.
With ``--floor`` it also drives a bare ASGI app on the same uvicorn (``http_floor_app.py``): the
transport's own cost. With ``--challenger`` it runs the decision service twice, without and then
with challengers (``--challenged``: the predictor and the volatility model by default) scored in shadow, and prints the CPU each decision costs in both.
Run: `make bench` or `.venv/bin/python benchmarks/serving.py [--quick] [--floor] [--challenger]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import polars as pl
import uvloop

TOKEN = "bench-token-0123456789abcdef"
ID_DIGITS = 12
ID_MARK = "9" * ID_DIGITS
"""Placeholder of the request id; every request gets its own number in its place."""
BARS = 120


@dataclass(frozen=True)
class LevelResult:
    concurrency: int
    requests: int
    errors: int
    seconds: float
    latencies: np.ndarray
    server_cpu_s: float = float("nan")
    """CPU time of the server's process tree while measured (all workers and threads)."""
    client_cpu_s: float = float("nan")
    """CPU time of this load generator while measured: it shares the cores with the server."""

    @property
    def server_cpu_ms_per_request(self) -> float:
        return self.server_cpu_s / max(self.requests, 1) * 1e3

    @property
    def client_cores(self) -> float:
        return self.client_cpu_s / self.seconds

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies, q) * 1e3) if self.latencies.size else float("nan")


class RequestFactory:
    """Pre-encoded HTTP/1.1 requests; ``next()`` splices a fresh id into a copy (microseconds)."""

    def __init__(self, host: str, port: int, path: str, bodies: list[bytes], headers: dict[str, str]) -> None:
        self._templates = []
        for body in bodies:
            head = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}", f"Content-Length: {len(body)}"]
            head += [f"{k}: {v}" for k, v in headers.items()]
            raw = ("\r\n".join(head) + "\r\n\r\n").encode() + body
            self._templates.append((raw, raw.find(ID_MARK.encode())))
        # Ids unique across runs too: idempotency goes through the audit store, which a reused
        # registry folder keeps, so a second run from 0 would be answered from the first's decisions.
        self._count = int(time.time()) % 10**6 * 10**6

    def next(self) -> bytes:
        raw, at = self._templates[self._count % len(self._templates)]
        self._count += 1
        if at < 0:
            return raw
        return raw[:at] + str(self._count).zfill(ID_DIGITS).encode() + raw[at + ID_DIGITS :]


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> int:
    """Send one request and read its whole response; returns the status code."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    if length:
        await reader.readexactly(length)
    return status


def tree_cpu_seconds(pid: int) -> float:
    """User plus system CPU of a process and its live descendants, from /proc (Linux)."""
    total = 0.0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rpartition(")")[2].split()
            total += (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS  # utime, stime
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(child) for child in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


async def drive(
    host: str,
    port: int | Sequence[int],
    factory: RequestFactory,
    concurrency: int,
    warmup: float,
    duration: float,
    server_pid: int | Sequence[int] | None = None,
) -> LevelResult:
    """``concurrency`` connections, each sending its next request as soon as the last is answered.

    With several ports the connections go to them in turn, as an ingress spreads them over
    replicas; with several server pids their CPU is added up.
    """
    ports = [port] if isinstance(port, int) else list(port)
    pids = [] if server_pid is None else [server_pid] if isinstance(server_pid, int) else list(server_pid)
    latencies: list[float] = []
    errors = [0]
    start_at = time.perf_counter() + warmup
    stop_at = start_at + duration
    cpu: dict[str, float] = {}

    def sample(when: str) -> None:
        cpu[f"client_{when}"] = time.process_time()
        if pids:
            cpu[f"server_{when}"] = sum(tree_cpu_seconds(pid) for pid in pids)

    async def sampler() -> None:
        await asyncio.sleep(max(start_at - time.perf_counter(), 0.0))
        sample("start")
        await asyncio.sleep(max(stop_at - time.perf_counter(), 0.0))
        sample("stop")

    async def connection(index: int) -> None:
        reader, writer = await asyncio.open_connection(host, ports[index % len(ports)])
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            while True:
                request = factory.next()
                began = time.perf_counter()
                if began >= stop_at:
                    return
                status = await _exchange(reader, writer, request)
                ended = time.perf_counter()
                if began >= start_at and ended <= stop_at:
                    latencies.append(ended - began)
                    if status != 200:
                        errors[0] += 1
        finally:
            writer.close()

    await asyncio.gather(sampler(), *(connection(i) for i in range(concurrency)))
    nan = float("nan")
    return LevelResult(
        concurrency,
        len(latencies),
        errors[0],
        duration,
        np.array(latencies),
        server_cpu_s=cpu.get("server_stop", nan) - cpu.get("server_start", nan),
        client_cpu_s=cpu["client_stop"] - cpu["client_start"],
    )


def run_levels(
    host: str,
    port: int | Sequence[int],
    factory: RequestFactory,
    levels: list[int],
    warmup: float,
    duration: float,
    server_pid: int | Sequence[int] | None = None,
) -> list[LevelResult]:
    """Each level on a uvloop event loop: the generator's own CPU per request is about halved."""
    results = []
    for concurrency in levels:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            result = runner.run(drive(host, port, factory, concurrency, warmup, duration, server_pid))
        results.append(result)
        print(
            f"  c={concurrency:<3d} {result.throughput:8.0f} req/s  p50 {result.percentile(50):7.2f} ms  "
            f"p99 {result.percentile(99):7.2f} ms  ({result.requests} requests, {result.errors} errors; "
            f"server {result.server_cpu_ms_per_request:.2f} ms CPU/request, "
            f"load generator {result.client_cores:.2f} cores)",
            flush=True,
        )
    return results


def decision_bodies(market: pl.DataFrame, count: int) -> list[dict]:
    """Request bodies over every simulated symbol, each a different stretch of ``BARS`` bars."""
    from nexus_assets.sim.decision_bodies import decision_body

    symbols = market["symbol"].unique().sort().to_list()
    return [
        decision_body(
            market,
            request_id=f"bench-{ID_MARK}",
            symbol=symbols[i % len(symbols)],
            bars=BARS,
            side=("buy", "sell")[i % 2],
            portfolio={"equity": 1_000_000.0, "positions": {symbols[i % len(symbols)]: 100.0}},
            bars_back=i // len(symbols),
        )
        for i in range(count)
    ]


def predictor_payload(body: dict, window: int) -> bytes:
    """The same request as the predictor's own input: its float32 feature window, as MLflow's ``inputs``."""
    from nexus_assets.ml.bars import BAR_SCHEMA, validate_bars
    from nexus_assets.ml.features import FEATURE_COLUMNS, features_for_last_rows

    bars = body["bars"]
    frame = pl.DataFrame(
        {
            "symbol": [body["signal"]["symbol"]] * BARS,
            "timestamp": [datetime.fromisoformat(t) for t in bars["timestamp"]],
            **{c: bars[c] for c in ("open", "high", "low", "close", "volume")},
        },
        schema=BAR_SCHEMA,
    )
    features = features_for_last_rows(validate_bars(frame, source="bench"), window)
    x = features.select(FEATURE_COLUMNS).to_numpy().astype(np.float32)
    return json.dumps({"inputs": [x.tolist()]}).encode()


def bootstrap(root: Path) -> dict[str, str]:
    """Environment of a registry under ``root`` with every champion trained (once; reused when present)."""
    env = {
        "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
        "MLFLOW_ARTIFACT_ROOT": str(root / "artifacts"),
        "NEXUS_HOME": str(root / "home"),
    }
    os.environ.update(env)
    from nexus_assets.bootstrap import ensure_champions

    started = time.perf_counter()
    trained = ensure_champions(log=lambda _: None)
    if trained:
        print(f"trained champions ({', '.join(trained)}) in {time.perf_counter() - started:.0f} s")
    return env


def set_challengers(env: dict[str, str], on: bool, models: Sequence[str] = ()) -> None:
    """Give each of ``models`` (default: every model) a challenger (its champion's files as a new
    version: the same scoring work as any challenger), or take the challenger aliases away again."""
    from mlflow import MlflowClient

    from nexus_assets.ml import registry
    from nexus_assets.ml.registry.champions import MODEL_NAMES
    from nexus_assets.ml.registry.names import CHALLENGER_ALIAS

    uri = env["MLFLOW_TRACKING_URI"]
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    for name in MODEL_NAMES:
        if on and models and name not in models:
            continue
        if not on:
            with contextlib.suppress(Exception):  # no alias: nothing to take away
                client.delete_registered_model_alias(name, CHALLENGER_ALIAS)
            continue
        champion = client.get_model_version_by_alias(name, registry.CHAMPION_ALIAS)
        version = client.create_model_version(name, source=champion.source, run_id=champion.run_id)
        client.set_registered_model_alias(name, CHALLENGER_ALIAS, str(version.version))


def print_shadow_cost(without: list[LevelResult], beside: list[LevelResult]) -> None:
    """Decisions/s, CPU and latency per level without and with challengers in shadow."""
    print(f"\n{'shadow':<18} {'conc':>4} {'req/s':>9} {'CPU ms/decision':>16} {'p50 ms':>8} {'p99 ms':>8}")
    for name, results in (("no challenger", without), ("challengers", beside)):
        for r in results:
            print(
                f"{name:<18} {r.concurrency:>4} {r.throughput:>9.0f} {r.server_cpu_ms_per_request:>16.3f} "
                f"{r.percentile(50):>8.2f} {r.percentile(99):>8.2f}"
            )
    before = {r.concurrency: r for r in without}
    for r in beside:
        base = before.get(r.concurrency)
        if base is None:
            continue
        extra = r.server_cpu_ms_per_request / base.server_cpu_ms_per_request - 1
        verdict = f", target <= 10%: {'met' if extra <= 0.10 else 'NOT met'}" if r.concurrency == 8 else ""
        print(f"  c={r.concurrency}: shadow scoring adds {extra:+.1%} CPU per decision{verdict}")


def print_table(
    nexus: list[LevelResult], mlflow: list[LevelResult], workers: int, floor: Sequence[LevelResult] = ()
) -> None:
    print()
    print(
        f"{'server':<30} {'conc':>4} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'ratio':>6} "
        f"{'CPU ms/req':>10} {'client cores':>12}"
    )
    baseline = {r.concurrency: r for r in mlflow}
    for name, results in (
        (f"nexus serve (--workers {workers})", nexus),
        (f"mlflow models serve (-w {workers})", mlflow),
        (f"bare ASGI app (--workers {workers})", floor),
    ):
        for r in results:
            base = baseline.get(r.concurrency)
            ratio = f"{r.throughput / base.throughput:5.1f}x" if results is nexus and base else ""
            print(
                f"{name:<30} {r.concurrency:>4} {r.throughput:>9.0f} {r.percentile(50):>8.2f} "
                f"{r.percentile(99):>8.2f} {r.errors:>7} {ratio:>6} {r.server_cpu_ms_per_request:>10.2f} "
                f"{r.client_cores:>12.2f}"
            )


def check_targets(nexus: list[LevelResult], mlflow: list[LevelResult]) -> None:
    by_level = {r.concurrency: r for r in nexus}
    base = {r.concurrency: r for r in mlflow}
    print()
    if 1 in by_level:
        p50 = by_level[1].percentile(50)
        print(f"target p50 <= 1 ms at c=1: {p50:.2f} ms, {'met' if p50 <= 1.0 else 'NOT met'}")
    if 8 in by_level:
        r = by_level[8]
        met = r.throughput >= 2000 and r.percentile(99) <= 10
        print(
            f"target >= 2000/s with p99 <= 10 ms at c=8: {r.throughput:.0f}/s, p99 {r.percentile(99):.2f} ms, "
            f"{'met' if met else 'NOT met'}"
        )
    if by_level and base:
        # Peak against peak: MLflow's workers share one socket, and at a given level one of them
        # sometimes takes every connection, which halves its figure there by chance.
        ours = max(by_level.values(), key=lambda r: r.throughput)
        theirs = max(base.values(), key=lambda r: r.throughput)
        ratio = ours.throughput / theirs.throughput
        print(
            f"target >= 4x mlflow models serve throughput (peak against peak): {ours.throughput:.0f}/s at "
            f"c={ours.concurrency} against {theirs.throughput:.0f}/s at c={theirs.concurrency}, {ratio:.1f}x, "
            f"{'met' if ratio >= 4 else 'NOT met'}"
        )
        per_cpu = theirs.server_cpu_ms_per_request / ours.server_cpu_ms_per_request
        print(
            f"  per second of server CPU: {per_cpu:.1f}x ({ours.server_cpu_ms_per_request:.2f} ms per decision against "
            f"{theirs.server_cpu_ms_per_request:.2f} ms per MLflow request; the worker balance does not move it)"
        )


def level_options(parser: argparse.ArgumentParser) -> None:
    """The load options every serving benchmark takes."""
    parser.add_argument("--quick", action="store_true", help="short smoke run: 1 s per level, c=1 and 8")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds measured per level")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up per level")
    parser.add_argument("--concurrency", default="1,8,32", help="comma-separated levels")
    parser.add_argument("--registry", type=Path, help="registry folder to reuse (trained once if empty)")


def levels_of(args: argparse.Namespace) -> list[int]:
    """The concurrency levels to run (``--quick`` shortens every level too)."""
    if args.quick:
        args.duration, args.warmup, args.concurrency = 1.0, 0.5, "1,8"
    return [int(c) for c in args.concurrency.split(",")]


def registry_root(args: argparse.Namespace, folder: str) -> Path:
    root = args.registry or Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    level_options(parser)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes of both servers")
    parser.add_argument("--skip-mlflow", action="store_true", help="measure the decision service only")
    parser.add_argument(
        "--floor",
        action="store_true",
        help="also drive a bare ASGI app on the same uvicorn: the transport's own cost",
    )
    parser.add_argument(
        "--challenger",
        action="store_true",
        help="run the decision service again with challengers scored in shadow",
    )
    parser.add_argument(
        "--challenged",
        default="trade-nexus-predictor,trade-nexus-volatility",
        help="the models given a challenger with --challenger (comma-separated; an anomaly challenger "
        "makes shadow scoring recompute the features)",
    )
    args = parser.parse_args()
    levels = levels_of(args)

    with tempfile.TemporaryDirectory(prefix="nexus-bench-serving-") as folder:
        root = registry_root(args, folder)
        bin_dir = str(Path(sys.executable).parent)
        # mlflow starts ``uvicorn`` from PATH: make it this environment's.
        env = {**os.environ, **bootstrap(root), "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
        from nexus_assets.bootstrap import BOOTSTRAP_MARKET
        from nexus_assets.sim.market import simulate_market
        from nexus_assets.sim.process import free_port, running_process

        market = simulate_market(BOOTSTRAP_MARKET)
        bodies = decision_bodies(market, 64)
        load = os.getloadavg()
        print(f"cores: {os.cpu_count()}, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
        print(
            f"{len(bodies)} request bodies of {BARS} bars, {args.duration:g} s per level after {args.warmup:g} s warm-up"
        )

        def run_nexus(label: str) -> tuple[list[LevelResult], int]:
            """The decision service under load; also returns the predictor's window."""
            port = free_port()
            command = [
                str(Path(sys.executable).parent / "nexus"), "serve", "--port", str(port),
                "--workers", str(args.workers),
            ]  # fmt: skip
            print(f"\nnexus serve --workers {args.workers} (audit log on, as deployed){label}")
            with running_process(
                command, health_url=f"http://127.0.0.1:{port}/ready", env=nexus_env, startup_timeout_s=180
            ) as server:
                models = urllib.request.Request(f"http://127.0.0.1:{port}/v1/models", headers=headers)
                with urllib.request.urlopen(models, timeout=5) as answer:
                    window = int(json.loads(answer.read())["window"])
                factory = RequestFactory("127.0.0.1", port, "/v1/decisions", encoded, headers)
                results = run_levels(
                    "127.0.0.1", port, factory, levels, args.warmup, args.duration, server.pid
                )
            return results, window

        nexus_env = {**env, "NEXUS_ENV": "test", "NEXUS_API_TOKENS": TOKEN, "NEXUS_HOME": str(root / "home")}
        headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
        encoded = [json.dumps(b, separators=(",", ":")).encode() for b in bodies]
        set_challengers(env, on=False)
        nexus, window = run_nexus("")
        if args.challenger:
            set_challengers(env, on=True, models=tuple(m for m in args.challenged.split(",") if m))
            try:
                shadowed, _ = run_nexus(f", challengers of {args.challenged} in shadow")
            finally:
                set_challengers(env, on=False)

        mlflow: list[LevelResult] = []
        if not args.skip_mlflow:
            port = free_port()
            command = [
                str(Path(sys.executable).parent / "mlflow"), "models", "serve",
                "-m", "models:/trade-nexus-predictor@champion", "--env-manager", "local",
                "-h", "127.0.0.1", "-p", str(port), "-w", str(args.workers),
            ]  # fmt: skip
            payloads = [predictor_payload(b, window) for b in bodies]
            print(f"\nmlflow models serve -w {args.workers} (predictor only, same feature windows)")
            with running_process(
                command, health_url=f"http://127.0.0.1:{port}/ping", env=env, startup_timeout_s=180
            ) as server:
                factory = RequestFactory(
                    "127.0.0.1", port, "/invocations", payloads, {"Content-Type": "application/json"}
                )
                mlflow = run_levels(
                    "127.0.0.1", port, factory, levels, args.warmup, args.duration, server.pid
                )

        floor: list[LevelResult] = []
        if args.floor:
            port = free_port()
            command = [
                str(Path(sys.executable).parent / "uvicorn"), "http_floor_app:app",
                "--app-dir", str(Path(__file__).parent), "--port", str(port), "--workers", str(args.workers),
                "--http", "httptools", "--loop", "uvloop", "--log-level", "warning", "--no-access-log",
            ]  # fmt: skip
            print(f"\nbare ASGI app, uvicorn --workers {args.workers} (transport floor)")
            with running_process(command, health_url=f"http://127.0.0.1:{port}/", env=env) as server:
                factory = RequestFactory("127.0.0.1", port, "/v1/decisions", encoded, headers)
                floor = run_levels("127.0.0.1", port, factory, levels, args.warmup, args.duration, server.pid)

        print_table(nexus, mlflow, args.workers, floor)
        check_targets(nexus, mlflow)
        if args.challenger:
            print_shadow_cost(nexus, shadowed)
        load = os.getloadavg()
        print(f"load average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
