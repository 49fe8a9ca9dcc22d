"""Start and stop the local stack behind `make run` / `make stop`.

Each service runs as its own detached process with a pid file and a log under
``<NEXUS_HOME>/run`` and ``<NEXUS_HOME>/logs``, so ``nexus down`` can stop exactly what
``nexus up`` started, even from another shell.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tenacity import retry, retry_if_exception_type, stop_after_delay, wait_fixed

from nexus_assets.paths import nexus_home
from nexus_assets.sim.process import spawn_detached, wait_until_healthy

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MAIN_JOB = "nexus_main_job"
LOCATION_NAME = "trade_nexus"


@dataclass(frozen=True)
class StackConfig:
    """Ports and credentials of the embedded stack; the defaults are for a developer machine."""

    host: str = "127.0.0.1"
    dagster_port: int = 3000
    lona_port: int = 8765
    lona_token: str = "dev-lona-token"
    lona_user_id: str = "dev-agent"
    lona_report_interval_s: float = 20.0
    live_engine_port: int = 8766
    live_engine_api_key: str = "dev-live-engine-key"
    serving_port: int = 8000
    model_poll_seconds: float = 5.0
    """The decision service picks up the champions the main job registers without a restart."""
    signal_poll_seconds: int = 10
    """How often ``lona_signal_sensor`` polls Lona (a new signal should trade within a minute)."""
    home: Path = field(default_factory=nexus_home)

    @property
    def lona_url(self) -> str:
        return f"http://{self.host}:{self.lona_port}/api/v1"

    @property
    def dagster_url(self) -> str:
        return f"http://{self.host}:{self.dagster_port}"

    @property
    def live_engine_url(self) -> str:
        return f"http://{self.host}:{self.live_engine_port}"

    @property
    def serving_url(self) -> str:
        return f"http://{self.host}:{self.serving_port}"


@dataclass(frozen=True)
class Service:
    name: str
    command: list[str]
    health_url: str


def _environment(config: StackConfig) -> dict[str, str]:
    dagster_home = config.home / "dagster_home"
    env = dict(os.environ)
    env.update(
        NEXUS_HOME=str(config.home),
        DAGSTER_HOME=str(dagster_home),
        LONA_GATEWAY_URL=env.get("LONA_GATEWAY_URL", config.lona_url),
        LONA_AGENT_TOKEN=env.get("LONA_AGENT_TOKEN", config.lona_token),
        LONA_AGENT_ID=env.get("LONA_AGENT_ID", config.lona_user_id),
        LIVE_ENGINE_URL=env.get("LIVE_ENGINE_URL", config.live_engine_url),
        LIVE_ENGINE_API_KEY=env.get("LIVE_ENGINE_API_KEY", config.live_engine_api_key),
        # The embedded decision service accepts the development token unless tokens are given.
        NEXUS_ENV=env.get("NEXUS_ENV", "development"),
        NEXUS_MODEL_POLL_SECONDS=env.get("NEXUS_MODEL_POLL_SECONDS", str(config.model_poll_seconds)),
        NEXUS_SIGNAL_POLL_SECONDS=env.get("NEXUS_SIGNAL_POLL_SECONDS", str(config.signal_poll_seconds)),
        # The console links its panels to the assets, checks and runs they come from.
        NEXUS_DAGSTER_URL=env.get("NEXUS_DAGSTER_URL", config.dagster_url),
    )
    return env


def prepare_dagster_home(config: StackConfig) -> Path:
    """DAGSTER_HOME with the project's instance config (dagster.yaml) in it."""
    dagster_home = config.home / "dagster_home"
    dagster_home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(PROJECT_ROOT / "dagster.yaml", dagster_home / "dagster.yaml")
    return dagster_home


def services(config: StackConfig) -> list[Service]:
    """What `nexus up` runs; credentials travel in the environment, never on the command line."""
    python = sys.executable
    bin_dir = Path(python).parent
    return [
        Service(
            "lona-stand-in",
            [
                python, "-m", "nexus_assets.sim.lona_server",
                "--host", config.host, "--port", str(config.lona_port),
                "--report-interval", str(config.lona_report_interval_s),
            ],
            f"http://{config.host}:{config.lona_port}/health",
        ),
        Service(
            "live-engine-stand-in",
            [
                python, "-m", "nexus_assets.sim.live_engine_server",
                "--host", config.host, "--port", str(config.live_engine_port),
            ],
            f"{config.live_engine_url}/health",
        ),
        Service(
            "decision-service",
            [str(bin_dir / "nexus"), "serve", "--host", config.host, "--port", str(config.serving_port)],
            f"{config.serving_url}/health",
        ),
        Service(
            "dagster",
            [
                str(bin_dir / "dagster"), "dev", "-w", str(PROJECT_ROOT / "workspace.yaml"),
                "-h", config.host, "-p", str(config.dagster_port),
            ],
            f"{config.dagster_url}/server_info",
        ),
    ]  # fmt: skip


def _pid_file(config: StackConfig, name: str) -> Path:
    return config.home / "run" / f"{name}.pid"


def _running_pid(config: StackConfig, name: str) -> int | None:
    path = _pid_file(config, name)
    try:
        pid = int(path.read_text().strip())
        os.kill(pid, 0)
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return None
    except PermissionError:
        return None
    return pid


def start(config: StackConfig, *, timeout_s: float = 180.0) -> None:
    """Start every service not already running and wait until each answers its health URL."""
    prepare_dagster_home(config)
    env = _environment(config)
    (config.home / "run").mkdir(parents=True, exist_ok=True)
    (config.home / "logs").mkdir(parents=True, exist_ok=True)
    for service in services(config):
        if _running_pid(config, service.name) is not None:
            print(f"{service.name}: already running")
            continue
        log = config.home / "logs" / f"{service.name}.log"
        with log.open("ab") as sink:
            process = spawn_detached(service.command, log=sink, env=env, cwd=PROJECT_ROOT)
        _pid_file(config, service.name).write_text(str(process.pid))
        wait_until_healthy(service.health_url, timeout_s=timeout_s, process=process, log=log, poll_s=0.5)
        print(f"{service.name}: up (pid {process.pid}, log {log})")


@retry(retry=retry_if_exception_type(Exception), stop=stop_after_delay(180), wait=wait_fixed(2), reraise=True)
def launch_main_job(config: StackConfig) -> str:
    """Submit the main job through the webserver's GraphQL API (retried while the code loads)."""
    from dagster_graphql import DagsterGraphQLClient

    client = DagsterGraphQLClient(config.host, port_number=config.dagster_port)
    return client.submit_job_execution(MAIN_JOB, repository_location_name=LOCATION_NAME)


def stop(config: StackConfig, *, timeout_s: float = 20.0) -> list[str]:
    """Stop every service this stack started (its whole process group); returns their names."""
    stopped = []
    for service in reversed(services(config)):
        pid = _running_pid(config, service.name)
        if pid is not None:
            _terminate_group(pid, timeout_s)
            stopped.append(service.name)
        _pid_file(config, service.name).unlink(missing_ok=True)
    return stopped


def _terminate_group(pid: int, timeout_s: float) -> None:
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    os.killpg(pid, signal.SIGKILL)
