#!/usr/bin/env bash
# Entrypoint of the trade-nexus image: the first argument selects the role.
#
#   serve              decision service (`nexus serve`), port $NEXUS_PORT (8000)
#   dagster-webserver  Dagster UI and GraphQL, port $NEXUS_WEBSERVER_PORT (3000)
#   dagster-daemon     schedules, sensors, run queue (`dagster-daemon run`)
#   code-server        Dagster gRPC code server for `trade_nexus`, port $NEXUS_CODE_SERVER_PORT (4000)
#   mlflow             MLflow tracking server with proxied artifacts, port $NEXUS_MLFLOW_PORT (5000)
#
# Arguments after the role are passed to the role's process. Any other command (`nexus backtest
# ...`, `bash`) runs as given. The role process replaces this shell (exec), so it receives the
# container's signals; the image's init (dumb-init) reaps whatever it spawns.
set -euo pipefail

readonly ROLES=(serve dagster-webserver dagster-daemon code-server mlflow)

# The project's environment: /opt/venv in the image; tests point it at the repository's .venv.
NEXUS_VENV="${NEXUS_VENV:-/opt/venv}"
export PATH="${NEXUS_VENV}/bin:${PATH}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

export NEXUS_HOME="${NEXUS_HOME:-/var/lib/nexus}"
export DAGSTER_HOME="${DAGSTER_HOME:-/opt/dagster/home}"
export NEXUS_BIND_HOST="${NEXUS_BIND_HOST:-0.0.0.0}"
export NEXUS_PORT="${NEXUS_PORT:-8000}"
export NEXUS_WEBSERVER_PORT="${NEXUS_WEBSERVER_PORT:-3000}"
export NEXUS_CODE_SERVER_HOST="${NEXUS_CODE_SERVER_HOST:-localhost}"
export NEXUS_CODE_SERVER_PORT="${NEXUS_CODE_SERVER_PORT:-4000}"
export NEXUS_MLFLOW_PORT="${NEXUS_MLFLOW_PORT:-5000}"
# The workspace (webserver, daemon) reads the code server's host and port from the two
# variables above; Dagster resolves `env:` sources when it loads the file.
export NEXUS_WORKSPACE="${NEXUS_WORKSPACE:-${here}/workspace.yaml}"
# Where the role is recorded for docker/healthcheck.py (HEALTHCHECK runs in a fresh process
# that does not see this shell's environment).
export NEXUS_RUN_DIR="${NEXUS_RUN_DIR:-/tmp/nexus}"

usage() {
  echo "usage: entrypoint.sh ROLE [ARGS...] | COMMAND [ARGS...]" >&2
  echo "roles: ${ROLES[*]}" >&2
}

# Record the role, its port and its pid: exec keeps the pid, so $$ is the role's process.
record_role() {
  local role="$1" port="$2"
  mkdir -p "${NEXUS_RUN_DIR}"
  printf 'role=%s\nport=%s\npid=%s\n' "${role}" "${port}" "$$" >"${NEXUS_RUN_DIR}/role.tmp"
  mv -f "${NEXUS_RUN_DIR}/role.tmp" "${NEXUS_RUN_DIR}/role"
  export NEXUS_ROLE="${role}"
}

require_dagster_home() {
  mkdir -p "${DAGSTER_HOME}"
  if [[ ! -f "${DAGSTER_HOME}/dagster.yaml" ]]; then
    echo "entrypoint.sh: ${DAGSTER_HOME}/dagster.yaml is missing (the image ships infra/dagster/dagster.yaml there)" >&2
    exit 2
  fi
}

if [[ $# -eq 0 ]]; then
  usage
  exit 2
fi

role="$1"
shift
mkdir -p "${NEXUS_HOME}"

case "${role}" in
  serve)
    record_role serve "${NEXUS_PORT}"
    export NEXUS_HOST="${NEXUS_HOST:-${NEXUS_BIND_HOST}}"
    exec nexus serve "$@"
    ;;
  dagster-webserver)
    require_dagster_home
    record_role dagster-webserver "${NEXUS_WEBSERVER_PORT}"
    exec dagster-webserver --host "${NEXUS_BIND_HOST}" --port "${NEXUS_WEBSERVER_PORT}" \
      --workspace "${NEXUS_WORKSPACE}" "$@"
    ;;
  dagster-daemon)
    require_dagster_home
    record_role dagster-daemon ""
    exec dagster-daemon run --workspace "${NEXUS_WORKSPACE}" "$@"
    ;;
  code-server)
    require_dagster_home
    record_role code-server "${NEXUS_CODE_SERVER_PORT}"
    # Run workers are launched as `<this venv's python> -m dagster`, never a `dagster` found
    # elsewhere on PATH.
    exec dagster api grpc --module-name nexus_assets.definitions --attribute defs \
      --location-name trade_nexus --host "${NEXUS_BIND_HOST}" --port "${NEXUS_CODE_SERVER_PORT}" \
      --use-python-environment-entry-point "$@"
    ;;
  mlflow)
    export MLFLOW_BACKEND_STORE_URI="${MLFLOW_BACKEND_STORE_URI:-sqlite:///${NEXUS_HOME}/mlflow/mlflow.db}"
    export MLFLOW_ARTIFACTS_DESTINATION="${MLFLOW_ARTIFACTS_DESTINATION:-${NEXUS_HOME}/mlflow/artifacts}"
    if [[ "${MLFLOW_BACKEND_STORE_URI}" == sqlite:///* ]]; then
      mkdir -p "$(dirname "${MLFLOW_BACKEND_STORE_URI#sqlite:///}")"
    fi
    record_role mlflow "${NEXUS_MLFLOW_PORT}"
    # Allowed Host headers: MLFLOW_SERVER_ALLOWED_HOSTS (read by mlflow itself).
    exec mlflow server --host "${NEXUS_BIND_HOST}" --port "${NEXUS_MLFLOW_PORT}" \
      --workers "${NEXUS_MLFLOW_WORKERS:-2}" \
      --backend-store-uri "${MLFLOW_BACKEND_STORE_URI}" \
      --artifacts-destination "${MLFLOW_ARTIFACTS_DESTINATION}" --serve-artifacts "$@"
    ;;
  -h | --help | help)
    usage
    exit 0
    ;;
  -*)
    echo "entrypoint.sh: unknown role '${role}'" >&2
    usage
    exit 2
    ;;
  *)
    # A one-off command (`nexus backtest ...`, `bash`): run it as given, if it exists.
    if command -v -- "${role}" >/dev/null 2>&1; then
      exec "${role}" "$@"
    fi
    echo "entrypoint.sh: unknown role or command '${role}'" >&2
    usage
    exit 2
    ;;
esac
