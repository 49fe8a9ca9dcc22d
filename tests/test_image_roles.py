"""The container image: its Dockerfile, its workflows and the role commands of its entrypoint.

No Docker engine is needed: the slow test runs ``docker/entrypoint.sh <role>`` for every role as
real processes against the project's own environment (the virtual environment running these
tests stands in for the image's /opt/venv through ``NEXUS_VENV``), then asks each one, and
``docker/healthcheck.py``, whether it is up.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx
import pytest
import yaml

from nexus_assets.sim.process import free_port, spawn_detached

ROOT = Path(__file__).resolve().parents[1]
ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"
HEALTHCHECK = ROOT / "docker" / "healthcheck.py"
VENV = Path(sys.prefix)
ROLES = ("serve", "dagster-webserver", "dagster-daemon", "code-server", "mlflow")
SECRET_NAME = re.compile(r"TOKEN|KEY|PASSWORD|SECRET|CREDENTIAL", re.IGNORECASE)


# ---- Dockerfile, .dockerignore, docs --------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str


def dockerfile_stages(path: Path = ROOT / "Dockerfile") -> list[list[Instruction]]:
    """Instructions grouped by stage (each starts with its FROM); continuations joined."""
    logical: list[str] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    stages: list[list[Instruction]] = []
    for line in logical:
        keyword, _, arguments = line.partition(" ")
        instruction = Instruction(keyword.upper(), arguments.strip())
        if instruction.keyword == "FROM":
            stages.append([])
        assert stages, f"instruction before the first FROM: {line}"
        stages[-1].append(instruction)
    return stages


def _names(instruction: Instruction) -> list[str]:
    """Variable names set by an ARG or ENV (``A=1 B=2``, ``A 1`` or ``A``)."""
    words = shlex.split(instruction.arguments)
    if instruction.keyword == "ENV" and words and "=" not in words[0]:
        return [words[0]]
    return [word.split("=", 1)[0] for word in words]


def entrypoint_roles() -> list[str]:
    match = re.search(r"^readonly ROLES=\(([^)]*)\)", ENTRYPOINT.read_text(), re.MULTILINE)
    assert match, "docker/entrypoint.sh must define readonly ROLES=(...)"
    return match.group(1).split()


def documented_roles() -> list[str]:
    text = (ROOT / "docs" / "deployment.md").read_text()
    section = text.split("\n## Container image", 1)[1].split("\n## ", 1)[0]
    table = section[section.index("\n|") :].split("\n\n", 1)[0]
    return re.findall(r"^\| `([a-z-]+)` \|", table, re.MULTILINE)


def test_dockerfile_is_multi_stage_non_root_with_healthcheck() -> None:
    stages = dockerfile_stages()
    assert len(stages) >= 2, "multi-stage build expected"
    final = stages[-1]
    base = final[0].arguments.split()[0]
    assert re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?", base), f"runtime base must pin a patch tag: {base}"
    users = [i.arguments for i in final if i.keyword == "USER"]
    assert users, "the runtime stage must set USER"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}, f"final USER is root: {users[-1]}"
    assert any(i.keyword == "HEALTHCHECK" and "healthcheck.py" in i.arguments for i in final)
    entrypoint = next(i.arguments for i in final if i.keyword == "ENTRYPOINT")
    assert "/app/docker/entrypoint.sh" in json.loads(entrypoint)
    assert json.loads(next(i.arguments for i in final if i.keyword == "CMD")) == ["serve"]
    exposed = {p for i in final if i.keyword == "EXPOSE" for p in i.arguments.split()}
    assert exposed == {"8000", "3000", "4000", "5000"}
    env = {name for i in final if i.keyword == "ENV" for name in _names(i)}
    assert {"PATH", "PYTHONUNBUFFERED", "DAGSTER_HOME", "NEXUS_HOME"} <= env


def test_dockerfile_bakes_in_no_secrets_and_installs_nothing_at_run_time() -> None:
    stages = dockerfile_stages()
    for stage in stages:
        for instruction in stage:
            if instruction.keyword in {"ARG", "ENV"}:
                secret = [name for name in _names(instruction) if SECRET_NAME.search(name)]
                assert not secret, f"{instruction.keyword} with a secret-looking name: {secret}"
            assert not (instruction.keyword == "ADD" and "://" in instruction.arguments)
    runs = [i.arguments for i in stages[0] if i.keyword == "RUN"]
    assert any(
        "--index-url https://download.pytorch.org/whl/cpu" in run and "torch==2.13.0" in run for run in runs
    ), "CPU torch 2.13.0 from the PyTorch CPU index expected in the builder"
    assert any('".[azure]"' in run for run in runs), "the project with its azure extra expected"
    # The runtime stage only copies: no package manager runs in it, and the entrypoint never installs.
    final_runs = " ".join(i.arguments for i in stages[-1] if i.keyword == "RUN")
    assert "pip" not in final_runs and "apt-get" not in final_runs
    assert "pip install" not in ENTRYPOINT.read_text()


def test_dockerignore_admits_exactly_what_the_dockerfile_copies() -> None:
    lines = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*", ".dockerignore should exclude everything, then admit what is copied"
    admitted = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    for stage in dockerfile_stages():
        for instruction in stage:
            if instruction.keyword != "COPY" or "--from=" in instruction.arguments:
                continue
            sources = [w for w in shlex.split(instruction.arguments) if not w.startswith("--")][:-1]
            for source in sources:
                assert source.rstrip("/") in admitted, f"COPY {source} is not admitted by .dockerignore"


def test_entrypoint_roles_match_the_documented_table() -> None:
    assert entrypoint_roles() == list(ROLES)
    assert documented_roles() == list(ROLES)
    assert os.access(ENTRYPOINT, os.X_OK), "docker/entrypoint.sh must be executable"


# ---- workflows --------------------------------------------------------------------------------


def _workflow(name: str) -> dict:
    # PyYAML reads the `on:` key as True.
    return yaml.safe_load((ROOT / ".github" / "workflows" / name).read_text())


def test_deploy_workflow_uses_oidc_and_pushes_sha_and_latest() -> None:
    text = (ROOT / ".github" / "workflows" / "deploy.yml").read_text()
    workflow = _workflow("deploy.yml")
    assert workflow[True] == {"push": {"branches": ["main"]}}
    assert workflow["permissions"] == {"contents": "read"}
    assert workflow["concurrency"]["cancel-in-progress"] is False
    deploy = workflow["jobs"]["deploy"]
    assert deploy["environment"] == "production"
    assert deploy["permissions"] == {"contents": "read", "id-token": "write"}
    steps = deploy["steps"]
    login = next(s for s in steps if s.get("uses", "").startswith("azure/login@"))
    assert set(login["with"]) == {"client-id", "tenant-id", "subscription-id"}
    assert all(value.startswith("${{ vars.") for value in login["with"].values())
    for stored_credential in ("secrets.", "client-secret", "creds:", "password"):
        assert stored_credential not in text, f"no stored credential expected: {stored_credential}"
    push = next(s for s in steps if s.get("uses", "").startswith("docker/build-push-action@"))
    assert push["with"]["push"] is True
    assert push["with"]["tags"].strip().splitlines() == [
        "${{ vars.ACR_NAME }}.azurecr.io/trade-nexus:${{ github.sha }}",
        "${{ vars.ACR_NAME }}.azurecr.io/trade-nexus:latest",
    ]
    commands = " ".join(s.get("run", "") for s in steps)
    assert 'az acr login --name "$ACR_NAME"' in commands
    for part in (
        "az deployment group create",
        '--resource-group "$AZURE_RESOURCE_GROUP"',
        "--template-file infra/main.bicep",
        "--parameters infra/environments/prod.bicepparam",
        "--parameters imageTag=${{ github.sha }}",
    ):
        assert part in commands


def test_workflows_pin_every_action_by_commit() -> None:
    for name in ("ci.yml", "deploy.yml"):
        for line in (ROOT / ".github" / "workflows" / name).read_text().splitlines():
            match = re.search(r"uses: ([^\s#]+)", line)
            if match and not match.group(1).startswith("./"):
                assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", match.group(1)), line
                assert re.search(r"# v\d+\.\d+\.\d+$", line), f"version comment expected: {line}"


def test_ci_workflow_runs_make_test_with_postgres() -> None:
    workflow = _workflow("ci.yml")
    assert set(workflow[True]) == {"pull_request", "push", "workflow_call"}
    test = workflow["jobs"]["test"]
    postgres = test["services"]["postgres"]
    assert postgres["env"] == {"POSTGRES_HOST_AUTH_METHOD": "trust", "POSTGRES_DB": "test"}
    assert "5432:5432" in postgres["ports"]
    assert any(s.get("run") == "make test" for s in test["steps"])
    python = next(s for s in test["steps"] if s.get("uses", "").startswith("actions/setup-python@"))
    assert python["with"]["python-version"] == "3.11"
    assert python["with"]["cache"] == "pip"


# ---- entrypoint as processes --------------------------------------------------------------------


def _base_env(tmp_path: Path) -> dict[str, str]:
    """The caller's environment minus any virtual environment: the entrypoint must select it."""
    env = {k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME"}}
    path = [p for p in env.get("PATH", "").split(os.pathsep) if p and not p.startswith(str(VENV))]
    env["PATH"] = os.pathsep.join(path or ["/usr/bin", "/bin"])
    env["NEXUS_VENV"] = str(VENV)
    env["NEXUS_BIND_HOST"] = "127.0.0.1"
    env["NEXUS_RUN_DIR"] = str(tmp_path / "run")
    return env


def test_unknown_role_exits_2_naming_the_roles(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(ENTRYPOINT), "dagster-web"], env=_base_env(tmp_path), capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert "unknown role" in result.stderr and "dagster-web" in result.stderr
    for role in ROLES:
        assert role in result.stderr


def test_one_off_command_is_execd_in_the_project_environment(tmp_path: Path) -> None:
    code = "import os, sys; print(os.getpid(), sys.prefix)"
    process = subprocess.Popen(
        [str(ENTRYPOINT), "python", "-c", code],
        env=_base_env(tmp_path),
        stdout=subprocess.PIPE,
        text=True,
    )
    out, _ = process.communicate(timeout=60)
    assert process.returncode == 0
    pid, prefix = out.split()
    assert int(pid) == process.pid, "the command must replace the entrypoint's shell (exec)"
    assert Path(prefix) == VENV
    assert not (tmp_path / "run" / "role").exists(), "a one-off command records no role"


@dataclass
class RoleProcess:
    role: str
    process: subprocess.Popen[bytes]
    log: IO[bytes]
    env: dict[str, str]
    port: int | None

    @property
    def run_dir(self) -> Path:
        return Path(self.env["NEXUS_RUN_DIR"])

    def output(self, limit: int = 3000) -> str:
        self.log.flush()
        return Path(self.log.name).read_bytes().decode("utf-8", errors="replace")[-limit:]


def _healthcheck(role: RoleProcess) -> tuple[bool, dict]:
    result = subprocess.run(
        [str(VENV / "bin" / "python"), str(HEALTHCHECK)],
        env=role.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    lines = result.stdout.strip().splitlines()
    report = json.loads(lines[-1]) if lines else {"detail": result.stderr[-500:]}
    return result.returncode == 0, report


def _stop(processes: list[RoleProcess], grace_s: float = 10.0) -> None:
    for role in processes:
        if role.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(role.process.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    for role in processes:
        with contextlib.suppress(subprocess.TimeoutExpired):
            role.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        # Whatever the role spawned (uvicorn workers, run workers) shares its process group.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(role.process.pid, signal.SIGKILL)
        role.process.wait(timeout=grace_s)
        role.log.close()


@pytest.fixture
def running_roles(tmp_path: Path) -> Iterator[dict[str, RoleProcess]]:
    """All five roles started at once, sharing one SQLite Dagster instance and one NEXUS_HOME."""
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text((ROOT / "dagster.yaml").read_text())
    # Create the SQLite storage once: three processes creating it at the same moment race on
    # its migrations (PostgreSQL in production is created by whichever role comes first).
    from dagster import DagsterInstance

    DagsterInstance.from_config(str(dagster_home)).dispose()
    ports = {
        "NEXUS_PORT": free_port(),
        "NEXUS_WEBSERVER_PORT": free_port(),
        "NEXUS_CODE_SERVER_PORT": free_port(),
        "NEXUS_MLFLOW_PORT": free_port(),
    }
    role_port = {
        "serve": "NEXUS_PORT",
        "dagster-webserver": "NEXUS_WEBSERVER_PORT",
        "code-server": "NEXUS_CODE_SERVER_PORT",
        "mlflow": "NEXUS_MLFLOW_PORT",
    }
    started: dict[str, RoleProcess] = {}
    try:
        for role in ROLES:
            env = _base_env(tmp_path / role)
            env.update({name: str(port) for name, port in ports.items()})
            env.update(
                NEXUS_HOME=str(tmp_path / "nexus_home"),
                DAGSTER_HOME=str(dagster_home),
                NEXUS_CODE_SERVER_HOST="127.0.0.1",
                NEXUS_ENV="development",
                NEXUS_MODEL_POLL_SECONDS="0",
                NEXUS_MLFLOW_WORKERS="1",
            )
            env.pop("MLFLOW_BACKEND_STORE_URI", None)
            env.pop("MLFLOW_ARTIFACTS_DESTINATION", None)
            log = (tmp_path / f"{role}.log").open("w+b")
            process = spawn_detached([str(ENTRYPOINT), role], log=log, env=env, cwd=tmp_path)
            port = ports[role_port[role]] if role in role_port else None
            started[role] = RoleProcess(role, process, log, env, port)
        yield started
    finally:
        _stop(list(started.values()))


HTTP_PATHS = {"serve": "/health", "dagster-webserver": "/server_info", "mlflow": "/health"}


def _answers(role: RoleProcess, http: httpx.Client) -> bool:
    """A cheap probe from this process, so the health check script (a new interpreter each
    time) only runs once a role looks up and the starting roles keep the CPU."""
    if role.role in HTTP_PATHS:
        try:
            return http.get(f"http://127.0.0.1:{role.port}{HTTP_PATHS[role.role]}").status_code == 200
        except httpx.TransportError:
            return False
    if role.role == "code-server":
        try:
            socket.create_connection(("127.0.0.1", role.port), timeout=1).close()
        except OSError:
            return False
    return True


def _wait_healthy(roles: dict[str, RoleProcess], timeout_s: float) -> dict[str, dict]:
    """Poll until ``docker/healthcheck.py`` reports every role healthy; its reports by role."""
    started = time.monotonic()
    reports: dict[str, dict] = {}
    pending = set(roles)
    last_check = dict.fromkeys(roles, 0.0)
    with httpx.Client(timeout=1.0) as http:
        while pending:
            for name in sorted(pending):
                role = roles[name]
                if role.process.poll() is not None:
                    pytest.fail(f"{name} exited with {role.process.returncode}:\n{role.output()}")
                # The daemon has no cheap probe: its check (a liveness-check run) at most every 3 s.
                if not _answers(role, http) or time.monotonic() - last_check[name] < 3.0:
                    continue
                last_check[name] = time.monotonic()
                healthy, reports[name] = _healthcheck(role)
                if healthy:
                    pending.discard(name)
                    print(f"{name} healthy after {time.monotonic() - started:.1f}s")
            if pending and time.monotonic() - started > timeout_s:
                details = "\n\n".join(f"{n}: {reports.get(n)}\n{roles[n].output()}" for n in sorted(pending))
                pytest.fail(f"not healthy after {timeout_s:g}s: {sorted(pending)}\n{details}")
            if pending:
                time.sleep(0.25)
    return reports


def _cmdline(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[:-1]


def _environ(pid: int) -> dict[str, str]:
    entries = Path(f"/proc/{pid}/environ").read_bytes().decode().split("\0")
    return dict(entry.split("=", 1) for entry in entries if "=" in entry)


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="reads /proc to find the interpreter")
def test_every_role_starts_from_the_project_environment_and_is_healthy(
    running_roles: dict[str, RoleProcess],
) -> None:
    reports = _wait_healthy(running_roles, timeout_s=150)
    venv_bin = str(VENV / "bin")
    for name, role in running_roles.items():
        report = reports[name]
        assert report["healthy"] is True and report["role"] == name, report
        # exec: the recorded pid is the entrypoint's own pid, now running the role's program.
        assert report["pid"] == role.process.pid, report
        argv = _cmdline(role.process.pid)
        assert argv[0] == str(VENV / "bin" / "python"), f"{name} runs {argv}"
        assert argv[1].startswith(venv_bin), f"{name} runs {argv}"
        environment = _environ(role.process.pid)
        assert environment["PATH"].split(os.pathsep)[0] == venv_bin
        assert environment["NEXUS_ROLE"] == name

    serve, webserver, mlflow = (running_roles[n] for n in ("serve", "dagster-webserver", "mlflow"))
    assert _cmdline(serve.process.pid)[1:] == [str(VENV / "bin" / "nexus"), "serve"]
    with httpx.Client(timeout=10) as http:
        assert http.get(f"http://127.0.0.1:{serve.port}/health").status_code == 200
        assert http.get(f"http://127.0.0.1:{mlflow.port}/health").status_code == 200
        # The webserver reached the code server through docker/workspace.yaml (host and port
        # from the environment) and loaded the `trade_nexus` location from it.
        query = "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus"
        query += " locationOrLoadError { __typename } } } } }"
        answer = http.post(f"http://127.0.0.1:{webserver.port}/graphql", json={"query": query}).json()
    entries = answer["data"]["workspaceOrError"]["locationEntries"]
    assert [(e["name"], e["locationOrLoadError"]["__typename"]) for e in entries] == [
        ("trade_nexus", "RepositoryLocation")
    ], entries
