# trade-nexus: one image for every role (decision service, Dagster webserver, daemon and code
# server, MLflow tracking server). The container's command selects the role; see
# docker/entrypoint.sh and docs/deployment.md, section "Container image".
#
#   docker build -t trade-nexus .
#   docker run --rm -p 8000:8000 -e NEXUS_API_TOKENS=... trade-nexus serve
#
# Everything is downloaded while building; nothing is installed when a container starts.

# ---- builder: the project's virtual environment at /opt/venv -------------------------------
FROM python:3.11.14-slim-bookworm AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

# CPU-only torch from PyTorch's CPU index, in its own layer (the largest, and cached across
# code changes). A bare `torch` from PyPI would pull the multi-GB CUDA build; the project's
# `torch==2.13.0` pin is then already satisfied by 2.13.0+cpu. dumb-init is the container's
# init (PID 1): it forwards signals to the role process and reaps the processes it spawns.
RUN pip install --no-cache-dir --index-url https://download.pytorch.org/whl/cpu torch==2.13.0 \
 && pip install --no-cache-dir dumb-init==1.2.5.post1

# The project lives at /app in both stages. It is installed in editable mode on purpose: the
# code location calls `dg.load_from_defs_folder`, which finds the project through the
# pyproject.toml beside the package, and a copy inside site-packages has none.
WORKDIR /app
COPY pyproject.toml README.md ./
COPY nexus_assets ./nexus_assets
COPY nexus_serving ./nexus_serving
RUN pip install --no-cache-dir -e ".[azure]" \
 && python -m compileall -q nexus_assets nexus_serving

# ---- runtime: python slim, the venv and the project, a non-root user ---------------------------
FROM python:3.11.14-slim-bookworm AS runtime

LABEL org.opencontainers.image.title="trade-nexus" \
      org.opencontainers.image.description="Trade Nexus: decision service, Dagster and MLflow roles"

# Fixed ids so volume ownership and Kubernetes/Container Apps security contexts are stable.
RUN groupadd --system --gid 10001 nexus \
 && useradd --system --uid 10001 --gid nexus --home-dir /var/lib/nexus --create-home \
      --shell /usr/sbin/nologin nexus \
 && mkdir -p /opt/dagster/home /tmp/nexus \
 && chown nexus:nexus /opt/dagster/home /tmp/nexus

# The numba kernels compile once per container, for the CPU it runs on, during start-up
# (before the decision service reports ready), into NUMBA_CACHE_DIR under the user's home.
ENV PATH=/opt/venv/bin:$PATH \
    NEXUS_VENV=/opt/venv \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    NEXUS_HOME=/var/lib/nexus \
    NUMBA_CACHE_DIR=/var/lib/nexus/numba-cache \
    DAGSTER_HOME=/opt/dagster/home \
    NEXUS_RUN_DIR=/tmp/nexus \
    NEXUS_BIND_HOST=0.0.0.0 \
    NEXUS_PORT=8000 \
    NEXUS_WEBSERVER_PORT=3000 \
    NEXUS_CODE_SERVER_HOST=localhost \
    NEXUS_CODE_SERVER_PORT=4000 \
    NEXUS_MLFLOW_PORT=5000

COPY --from=builder /opt/venv /opt/venv
COPY --from=builder /app /app
COPY docker /app/docker
# The production Dagster instance: PostgreSQL storage from DAGSTER_PG_* at run time.
COPY infra/dagster/dagster.yaml /opt/dagster/home/dagster.yaml

WORKDIR /app
USER 10001:10001

# decision service, Dagster webserver, Dagster code server (gRPC), MLflow
EXPOSE 8000 3000 4000 5000

HEALTHCHECK --interval=30s --timeout=15s --start-period=120s --retries=3 \
  CMD ["/opt/venv/bin/python", "/app/docker/healthcheck.py"]

ENTRYPOINT ["/opt/venv/bin/dumb-init", "--", "/app/docker/entrypoint.sh"]
CMD ["serve"]
