"""Running a stand-in as a real subprocess on loopback, for tests and local runs.

Tests talk to stand-ins over real HTTP so that client timeouts, retries and envelopes are
exercised as in production; these helpers start one, wait until it answers, and make sure it
is gone afterwards even when the test fails.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx


class StandInStartError(RuntimeError):
    """A stand-in process died or never became healthy; the message holds its output."""


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now (the caller should bind it soon)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _output(log: IO[bytes] | Path | None, limit: int = 4000) -> str:
    """The tail of a process's output, from its open log file or the log's path."""
    if log is None:
        return ""
    if not isinstance(log, Path):
        log.flush()
        log = Path(log.name)
    try:
        text = log.read_bytes().decode("utf-8", errors="replace")
    except OSError as exc:
        return f"(log {log} unreadable: {exc})"
    return text[-limit:]


def wait_until_healthy(
    url: str,
    *,
    timeout_s: float,
    process: subprocess.Popen[bytes] | None = None,
    log: IO[bytes] | Path | None = None,
    poll_s: float = 0.05,
) -> None:
    """Poll ``url`` until it answers 200; fail fast, with the output, if ``process`` exits."""
    deadline = time.monotonic() + timeout_s
    last_error = "no answer yet"
    with httpx.Client(timeout=1.0) as http:
        while True:
            if process is not None and process.poll() is not None:
                raise StandInStartError(
                    f"process exited with code {process.returncode} before {url} answered; "
                    f"output:\n{_output(log)}"
                )
            try:
                response = http.get(url)
                if response.status_code == 200:
                    return
                last_error = f"HTTP {response.status_code}"
            except httpx.TransportError as exc:
                last_error = type(exc).__name__
            if time.monotonic() >= deadline:
                raise StandInStartError(
                    f"{url} not healthy after {timeout_s:g}s ({last_error}); output:\n{_output(log)}"
                )
            time.sleep(poll_s)


def stop_process(process: subprocess.Popen[bytes], grace_s: float = 5.0) -> None:
    """Terminate, then kill if it does not exit within ``grace_s``."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=grace_s)


def spawn_detached(
    args: Sequence[str], *, log: IO[bytes], env: Mapping[str, str], cwd: str | os.PathLike[str]
) -> subprocess.Popen[bytes]:
    """A service process in its own session (a signal to its group reaches all it spawns), output to ``log``."""
    return subprocess.Popen(
        list(args),
        cwd=cwd,
        env=dict(env),
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )


@contextmanager
def running_process(
    args: Sequence[str],
    *,
    health_url: str,
    env: Mapping[str, str] | None = None,
    startup_timeout_s: float = 30.0,
) -> Iterator[subprocess.Popen[bytes]]:
    """A subprocess that is healthy inside the block and stopped after it."""
    with tempfile.NamedTemporaryFile(prefix="stand-in-", suffix=".log") as log:
        process = subprocess.Popen(
            list(args),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
        )
        try:
            wait_until_healthy(health_url, timeout_s=startup_timeout_s, process=process, log=log)
            yield process
        finally:
            stop_process(process)


def server_command(module: str, port: int, options: dict[str, str | None]) -> list[str]:
    """``python -m module`` on loopback at ``port``, with the options that have a value."""
    command = [sys.executable, "-m", module, "--host", "127.0.0.1", "--port", str(port)]
    for flag, value in options.items():
        if value is not None:
            command += [flag, value]
    return command


@dataclass(frozen=True)
class LonaStandIn:
    base_url: str
    root_url: str
    token: str
    user_id: str

    def __repr__(self) -> str:
        return f"LonaStandIn(base_url={self.base_url!r}, user_id={self.user_id!r})"


@contextmanager
def running_lona_stand_in(
    *,
    token: str = "test-token",
    user_id: str = "test-agent",
    seed: int = 7,
    report_interval_s: float = 3600.0,
    port: int | None = None,
    symbols: tuple[str, ...] | None = None,
    n_strategies: int | None = None,
    initial_bars: int | None = None,
    symbol_data_form: str | None = None,
    strategy_code: str | None = None,
    startup_timeout_s: float = 30.0,
) -> Iterator[LonaStandIn]:
    """A Lona stand-in subprocess on loopback; the token travels by environment, not argv.

    ``symbol_data_form`` and ``strategy_code`` pick which of Lona's answer shapes it gives
    (``nexus_assets.sim.lona_wire_forms``)."""
    port = port or free_port()
    root_url = f"http://127.0.0.1:{port}"
    args = server_command(
        "nexus_assets.sim.lona_server",
        port,
        {
            "--seed": str(seed),
            "--report-interval": f"{report_interval_s:g}",
            "--symbols": ",".join(symbols) if symbols else None,
            "--strategies": None if n_strategies is None else str(n_strategies),
            "--initial-bars": None if initial_bars is None else str(initial_bars),
            "--symbol-data-form": symbol_data_form,
            "--strategy-code": strategy_code,
        },
    )
    env = {"LONA_AGENT_TOKEN": token, "LONA_AGENT_ID": user_id}
    with running_process(args, health_url=f"{root_url}/health", env=env, startup_timeout_s=startup_timeout_s):
        yield LonaStandIn(base_url=f"{root_url}/api/v1", root_url=root_url, token=token, user_id=user_id)


@dataclass(frozen=True)
class LiveEngineStandIn:
    base_url: str
    """What LIVE_ENGINE_URL would be: the root, under which the API lives at ``/api/internal``."""
    api_key: str

    def __repr__(self) -> str:
        return f"LiveEngineStandIn(base_url={self.base_url!r})"


@contextmanager
def running_live_engine_stand_in(
    *,
    api_key: str = "test-key",
    seed: int = 7,
    bar_interval_s: float = 0.0,
    port: int | None = None,
    symbols: tuple[str, ...] | None = None,
    initial_bars: int | None = None,
    startup_timeout_s: float = 30.0,
) -> Iterator[LiveEngineStandIn]:
    """A Live Engine stand-in subprocess on loopback; bars advance only on ``POST /_sim/tick``
    unless ``bar_interval_s`` > 0. The key travels by environment, not argv."""
    port = port or free_port()
    base_url = f"http://127.0.0.1:{port}"
    args = server_command(
        "nexus_assets.sim.live_engine_server",
        port,
        {
            "--seed": str(seed),
            "--bar-interval": f"{bar_interval_s:g}",
            "--symbols": ",".join(symbols) if symbols else None,
            "--initial-bars": None if initial_bars is None else str(initial_bars),
        },
    )
    env = {"LIVE_ENGINE_API_KEY": api_key}
    with running_process(args, health_url=f"{base_url}/health", env=env, startup_timeout_s=startup_timeout_s):
        yield LiveEngineStandIn(base_url=base_url, api_key=api_key)
