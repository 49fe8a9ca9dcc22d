"""The decision service under each way of running two workers, on the same requests.

Every variant serves the same app (``nexus_serving.main:create_app``, audit log on) with two
worker processes and is driven by the load generator of ``serving.py``:

* ``nexus serve --workers 2`` of a checkout (``--nexus-tree``, repeatable): the service's own
  command as that checkout ships it;
* ``uvicorn --workers 2``: uvicorn's supervisor, one listening socket shared by the workers;
* ``uvicorn x2, SO_REUSEPORT``: two single-worker servers, each on its own socket of one port,
  the kernel hashing connections over them (``reuse_port_server.py``);
* ``one worker per container x2``: two single-worker servers on two ports, connections spread
  over them in turn, as an ingress spreads them over replicas.

Run: `.venv/bin/python benchmarks/transports.py [--nexus-tree DIR ...] [--quick]`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from serving import (
    TOKEN,
    LevelResult,
    RequestFactory,
    bootstrap,
    decision_bodies,
    level_options,
    levels_of,
    registry_root,
    run_levels,
)

BIN = Path(sys.executable).parent
WORKERS = 2
UVICORN_OPTIONS = ["--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning"]


@contextlib.contextmanager
def servers(commands: Sequence[tuple[list[str], str]], env: dict[str, str]) -> Iterator[list[int]]:
    """Start each (command, health URL) in turn, each healthy before the next; yields their pids."""
    from nexus_assets.sim.process import running_process

    with contextlib.ExitStack() as stack:
        pids = []
        for command, health in commands:
            process = stack.enter_context(
                running_process(command, health_url=health, env=env, startup_timeout_s=180)
            )
            pids.append(process.pid)
        yield pids


def variants(trees: Sequence[Path]) -> list[tuple[str, list[int], list[tuple[list[str], str]]]]:
    """(label, ports the load goes to, commands) of every variant, on fresh ports."""
    from nexus_assets.sim.process import free_port

    out = []
    for tree in trees:
        port = free_port()
        command = [sys.executable, "-c", "import sys; from nexus_assets.cli import main; sys.exit(main())"]
        command += ["serve", "--port", str(port), "--workers", str(WORKERS)]
        out.append((f"nexus serve ({tree.name})", [port], [(command, f"http://127.0.0.1:{port}/ready")]))
    port = free_port()
    shared = [str(BIN / "uvicorn"), "nexus_serving.main:create_app", "--factory", "--port", str(port)]
    shared += ["--workers", str(WORKERS), *UVICORN_OPTIONS]
    out.append(("uvicorn --workers 2", [port], [(shared, f"http://127.0.0.1:{port}/ready")]))
    port = free_port()
    pair = []
    for _ in range(WORKERS):
        health = free_port()
        script = str(Path(__file__).resolve().parent / "reuse_port_server.py")
        command = [sys.executable, script, "--port", str(port), "--health-port", str(health)]
        pair.append((command, f"http://127.0.0.1:{health}/ready"))
    out.append(("uvicorn x2, SO_REUSEPORT", [port], pair))
    ports = [free_port() for _ in range(WORKERS)]
    single = [
        (
            [
                str(BIN / "uvicorn"),
                "nexus_serving.main:create_app",
                "--factory",
                "--port",
                str(p),
                *UVICORN_OPTIONS,
            ],
            f"http://127.0.0.1:{p}/ready",
        )
        for p in ports
    ]
    out.append(("one worker per container x2", ports, single))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--nexus-tree", type=Path, action="append", default=[], help="checkout whose `nexus serve` to run"
    )
    parser.add_argument(
        "--app-tree",
        type=Path,
        help="checkout whose app the standard set-ups serve (default: this one), to compare transports alone",
    )
    parser.add_argument("--rounds", type=int, default=3, help="times each variant runs, interleaved")
    level_options(parser)
    args = parser.parse_args()
    levels = levels_of(args)

    with tempfile.TemporaryDirectory(prefix="nexus-bench-transports-") as folder:
        root = registry_root(args, folder)
        env = {**os.environ, **bootstrap(root), "NEXUS_ENV": "test", "NEXUS_API_TOKENS": TOKEN}
        # What `nexus serve` sets for its workers: native thread pools split the cores.
        for variable in ("POLARS_MAX_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            env[variable] = str(max(1, (os.cpu_count() or 1) // WORKERS))
        from nexus_assets.bootstrap import BOOTSTRAP_MARKET
        from nexus_assets.sim.market import simulate_market

        bodies = [
            json.dumps(b, separators=(",", ":")).encode()
            for b in decision_bodies(simulate_market(BOOTSTRAP_MARKET), 64)
        ]
        headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
        load = os.getloadavg()
        print(
            f"cores: {os.cpu_count()}, load average {load[0]:.2f}; {args.duration:g} s per level after {args.warmup:g} s"
        )
        # Rounds interleave the variants: this machine's speed drifts by tens of percent within
        # minutes, and a shared socket's split of the connections differs from start to start.
        results: dict[str, list[list[LevelResult]]] = {}
        trees = [tree.resolve() for tree in args.nexus_tree]
        for round_number in range(1, args.rounds + 1):
            for label, ports, commands in variants(trees):
                tree_env = dict(env)
                if label.startswith("nexus serve"):
                    tree = next(t for t in trees if t.name in label)
                    tree_env["PYTHONPATH"] = str(tree)
                elif args.app_tree:
                    tree_env["PYTHONPATH"] = str(args.app_tree.resolve())
                print(f"\n{label}, round {round_number}", flush=True)
                with servers(commands, tree_env) as pids:
                    factory = RequestFactory("127.0.0.1", ports[0], "/v1/decisions", bodies, headers)
                    measured = run_levels(
                        "127.0.0.1", ports, factory, levels, args.warmup, args.duration, pids
                    )
                results.setdefault(label, []).append(measured)
        print_table(results)


def print_table(results: dict[str, list[list[LevelResult]]]) -> None:
    """Medians over the rounds per variant and level, each round's throughput beside them."""
    print(
        f"\n{'variant':<36} {'conc':>4} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'CPU ms/req':>10}  rounds req/s"
    )
    medians: dict[str, dict[int, tuple[float, float]]] = {}
    for label, rounds in results.items():
        for level in range(len(rounds[0])):
            runs = [r[level] for r in rounds]
            rate = float(np.median([r.throughput for r in runs]))
            p99 = float(np.median([r.percentile(99) for r in runs]))
            medians.setdefault(label, {})[runs[0].concurrency] = (rate, p99)
            print(
                f"{label:<36} {runs[0].concurrency:>4} {rate:>8.0f} "
                f"{np.median([r.percentile(50) for r in runs]):>7.2f} {p99:>7.2f} "
                f"{np.median([r.server_cpu_ms_per_request for r in runs]):>10.2f}  "
                + " ".join(f"{r.throughput:.0f}" for r in runs)
                + (f"  ({sum(r.errors for r in runs)} errors)" if any(r.errors for r in runs) else "")
            )
    at8 = {label: levels[8] for label, levels in medians.items() if 8 in levels}
    standard = [label for label in at8 if not label.startswith("nexus serve")]
    if not standard:
        return
    best = max(standard, key=lambda label: at8[label][0])
    print(f"\nbest standard set-up at c=8 (medians): {best}, {at8[best][0]:.0f}/s, p99 {at8[best][1]:.2f} ms")
    for label, (rate, p99) in at8.items():
        if label.startswith("nexus serve"):
            gain = rate / at8[best][0] - 1
            verdict = "earns its keep" if gain >= 0.2 and p99 <= at8[best][1] else "does not earn its keep"
            print(
                f"  {label}: {gain:+.0%} decisions/s, p99 {p99:.2f} ms: {verdict} (needs +20%, p99 no worse)"
            )


if __name__ == "__main__":
    main()
