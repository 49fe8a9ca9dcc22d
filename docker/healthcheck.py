"""Container health check for every role of the trade-nexus image (the Dockerfile's HEALTHCHECK).

docker/entrypoint.sh records the role, its port and its pid in ``$NEXUS_RUN_DIR/role``; this
script checks that the process is alive and then asks the role itself:

- ``serve``: ``GET /health``; ``dagster-webserver``: ``GET /server_info``; ``mlflow``: ``GET /health``
- ``code-server``: the gRPC health service (``DagsterApi`` must be ``SERVING``)
- ``dagster-daemon``: ``dagster-daemon liveness-check`` (recent heartbeats in the instance)

Prints one JSON line and exits 0 when healthy, 1 otherwise. Standard library only, except
grpc for the code server, so a probe costs little.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

HTTP_PATHS = {"serve": "/health", "dagster-webserver": "/server_info", "mlflow": "/health"}
TIMEOUT_S = 5.0


def read_state(run_dir: Path) -> dict[str, str]:
    text = (run_dir / "role").read_text(encoding="utf-8")
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _http_ok(port: str, path: str) -> tuple[bool, str]:
    url = f"http://127.0.0.1:{port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
            return response.status == 200, f"{url} -> {response.status}"
    except urllib.error.HTTPError as exc:
        return False, f"{url} -> {exc.code}"
    except OSError as exc:
        return False, f"{url} -> {type(exc).__name__}: {exc}"


def _grpc_ok(port: str) -> tuple[bool, str]:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    target = f"127.0.0.1:{port}"
    try:
        with grpc.insecure_channel(target) as channel:
            response = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service="DagsterApi"), timeout=TIMEOUT_S
            )
    except grpc.RpcError as exc:
        return False, f"grpc {target} -> {exc.code().name}"
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
    return status == "SERVING", f"grpc {target} -> {status}"


def _daemon_ok() -> tuple[bool, str]:
    command = [str(Path(sys.prefix) / "bin" / "dagster-daemon"), "liveness-check"]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=20, check=False)
    except subprocess.TimeoutExpired:
        return False, "dagster-daemon liveness-check timed out"
    output = (result.stdout + result.stderr).strip().splitlines()
    return result.returncode == 0, output[-1] if output else f"exit {result.returncode}"


def check(run_dir: Path) -> dict[str, object]:
    try:
        state = read_state(run_dir)
        role, pid = state["role"], int(state["pid"])
    except (OSError, KeyError, ValueError) as exc:
        return {"healthy": False, "detail": f"no role recorded in {run_dir / 'role'}: {exc}"}
    report: dict[str, object] = {"role": role, "pid": pid}
    if not _alive(pid):
        return {**report, "healthy": False, "detail": f"process {pid} is gone"}
    if role in HTTP_PATHS:
        healthy, detail = _http_ok(state.get("port", ""), HTTP_PATHS[role])
    elif role == "code-server":
        healthy, detail = _grpc_ok(state.get("port", ""))
    elif role == "dagster-daemon":
        healthy, detail = _daemon_ok()
    else:
        healthy, detail = False, f"unknown role {role!r}"
    return {**report, "healthy": healthy, "detail": detail}


def main() -> int:
    report = check(Path(os.environ.get("NEXUS_RUN_DIR", "/tmp/nexus")))
    print(json.dumps(report))
    return 0 if report["healthy"] else 1


if __name__ == "__main__":
    sys.exit(main())
