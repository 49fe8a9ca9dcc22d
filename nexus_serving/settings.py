"""Serving configuration, read once from the environment.

Outside development the service refuses to start without real API tokens, so a forgotten
variable cannot expose decisions to anyone who can reach the port.
"""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from nexus_assets.ml.portfolio.risk_gate import RiskLimits
from nexus_assets.paths import nexus_home

PLACEHOLDER_TOKENS = frozenset(
    {"changeme", "change-me", "change_me", "changethis", "secret", "token", "password"}
)
MIN_TOKEN_LENGTH = 16
DEVELOPMENT_TOKEN = "dev-nexus-token"
"""Accepted only when ``NEXUS_ENV=development`` and no tokens are configured."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NEXUS_", extra="ignore", populate_by_name=True)

    env: Literal["development", "test", "production"] = "production"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    access_log: bool = False
    """uvicorn's line per request (``NEXUS_ACCESS_LOG=true``); off by default, as it costs about a
    third of a small request's CPU and the metrics already count every request by route and status."""
    api_tokens: SecretStr = SecretStr("")
    """Comma-separated bearer tokens (``NEXUS_API_TOKENS``); any one of them is accepted."""
    admin_tokens: SecretStr = SecretStr("")
    """Comma-separated ``name:token`` pairs (``NEXUS_ADMIN_TOKENS``) for the risk controls; the
    name is recorded with every change. Unset: the controls can be read, not changed."""
    risk_poll_seconds: float = Field(default=0.5, gt=0, le=1.0)
    """How often each worker reads the shared risk state (kill switch, anomaly latches, equity
    marks) from the store: a change made on any worker or replica holds on all within this long."""
    anomaly_halt: float = Field(default=0.99, gt=0, le=1)
    """New risk on a symbol halts once its anomaly score reaches this (``NEXUS_ANOMALY_HALT``)..."""
    anomaly_resume: float = Field(default=0.95, gt=0, le=1)
    """...and resumes once it falls below this (``NEXUS_ANOMALY_RESUME``, at most the halt level)."""
    drawdown_limit: float = Field(default=0.20, gt=0, lt=1)
    """No new risk on a book once its equity is this fraction below its high-water mark."""
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    max_batch_body_bytes: int = Field(default=32 * 1024 * 1024, ge=1024)
    body_timeout_s: float = Field(default=30.0, gt=0)
    """A request's whole body must arrive within this long of its head (else 408)."""
    head_timeout_s: float = Field(default=10.0, gt=0)
    """A request's line and headers must arrive within this long (else 408, connection closed)."""
    max_head_bytes: int = Field(default=32 * 1024, ge=1024)
    """Largest request line plus headers (else 431, connection closed)."""
    max_connections: int = Field(default=1000, ge=1)
    """Connections (and requests in progress) per worker; past it new requests get 503."""
    loop_stall_s: float = Field(default=30.0, ge=0)
    """A worker whose event loop has not turned for this long is ended and replaced; 0: never."""
    shutdown_timeout_s: float = Field(default=15.0, gt=0)
    """After SIGTERM, how long requests in flight may finish before they are cancelled; the
    audit log is then written out (``NEXUS_AUDIT_FLUSH_TIMEOUT_S``), within a platform's 30 s."""
    max_batch: int = Field(default=256, ge=1, le=10_000)
    idempotency_capacity: int = Field(default=100_000, ge=1)
    """Responses remembered by request_id; the oldest are forgotten first."""
    model_cache_dir: Path | None = None
    """Defaults to ``$NEXUS_HOME/serving/models``."""
    max_model_age_days: float = Field(default=30.0, gt=0)
    stale_model_action: Literal["annotate", "reduce", "reject"] = "annotate"
    """What a decision made with a champion older than ``max_model_age_days`` does
    (``NEXUS_STALE_MODEL_ACTION``): say so in its reasons, halve its size, or add no risk."""
    max_bar_age: timedelta = Field(default=timedelta(hours=96), ge=timedelta(0))
    """A decision whose newest bar is older than this is refused with 503 naming the bar's time
    (``NEXUS_MAX_BAR_AGE``: seconds, ``HH:MM:SS`` or ISO 8601 such as ``PT15M``); 0 turns it off.
    Four days by default, the market data's own ``bars_fresh`` limit: a long weekend of daily bars."""
    data_dir: str | None = None
    """Asset data folder or fsspec URL (``NEXUS_DATA_DIR``), where the latest allocation is read."""
    news_poll_seconds: float = Field(default=5.0, ge=0)
    """How often the news and review tables are checked for a new version; 0 reads them at start only."""
    model_poll_seconds: float = Field(default=30.0, ge=0)
    """How often the champion aliases are checked for a hot swap; 0 turns polling off."""
    audit_enabled: bool = True
    """Record every decision in the audit log (``NEXUS_AUDIT_ENABLED=false`` turns it off)."""
    audit_database_url: SecretStr | None = None
    """``postgresql://...`` or ``sqlite:///path``; unset means ``$NEXUS_HOME/serving/audit.db``."""
    audit_schema: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
    """PostgreSQL schema for the audit table (created if missing); unset follows the URL's search_path."""
    audit_queue_size: int = Field(default=100_000, ge=1)
    """Most decisions held in memory on their way to the audit store."""
    audit_queue_bytes: int = Field(default=256 * 1024 * 1024, ge=1024 * 1024)
    """Most bytes of decisions held in memory; past it, or past ``audit_queue_size``, new
    decisions are refused with 503 (fail closed) until the writer catches up."""
    shadow_queue_size: int = Field(default=10_000, ge=1)
    """Most decisions waiting to be scored by the challengers (``NEXUS_SHADOW_QUEUE_SIZE``); past
    it their shadow scoring is dropped (``nexus_shadow_dropped_total``), never a decision slowed."""
    audit_spool_dir: Path | None = None
    """Where decisions wait on disk while the audit store is down (``$NEXUS_HOME/serving/audit-spool``);
    forwarded in order once it is back, also by the next start."""
    audit_spill_after_s: float = Field(default=1.0, gt=0)
    """How long a batch retries the audit store before it goes to the spool instead."""
    audit_ack_timeout_s: float = Field(default=5.0, gt=0)
    """How long a request waits for its decision to be durable in the audit log (stored, or
    spooled while the store is down) before it is answered 503; a retry with the same
    ``request_id`` then gets that decision once it is stored."""
    audit_flush_timeout_s: float = Field(default=10.0, gt=0)
    """How long shutdown keeps retrying an unavailable audit store before giving up on what is queued."""
    public_api_docs: bool | None = None
    """``/docs``, ``/redoc`` and ``/openapi.json`` without a token (``NEXUS_PUBLIC_API_DOCS``);
    unset means only in development. Otherwise the schema needs the token and the pages are off."""
    kill_switch: bool = False
    """Kill switch held by the deployment (``NEXUS_KILL_SWITCH=true``): every decision halts,
    whatever the switch in the store says (``POST /v1/risk/kill-switch`` cannot release it)."""
    tracking_uri: str | None = Field(default=None, validation_alias="MLFLOW_TRACKING_URI")
    """MLflow tracking and registry URI; unset means the project default (``registry.tracking_uri``)."""
    dagster_url: str | None = Field(default=None, pattern=r"^https?://[^\s]+$")
    """The Dagster UI (``NEXUS_DAGSTER_URL``, http or https): the console links its panels to the
    assets, checks and runs they come from. Unset: no links."""

    @property
    def tokens(self) -> tuple[bytes, ...]:
        """The accepted tokens as bytes, ready for constant-time comparison."""
        raw = [t.strip() for t in self.api_tokens.get_secret_value().split(",")]
        tokens = tuple(t.encode() for t in raw if t)
        if not tokens and self.env == "development":
            return (DEVELOPMENT_TOKEN.encode(),)
        return tokens

    @property
    def admins(self) -> tuple[tuple[str, bytes], ...]:
        """The admin tokens with their names, as ``(name, token)``."""
        pairs = []
        for index, entry in enumerate(e.strip() for e in self.admin_tokens.get_secret_value().split(",")):
            if not entry:
                continue
            name, sep, token = entry.partition(":")
            if not sep or not name.strip() or not token.strip():
                raise ValueError(f"NEXUS_ADMIN_TOKENS: entry #{index + 1} is not name:token")
            pairs.append((name.strip(), token.strip().encode()))
        return tuple(pairs)

    @property
    def api_docs_public(self) -> bool:
        return self.env == "development" if self.public_api_docs is None else self.public_api_docs

    @property
    def cache_dir(self) -> Path:
        return self.model_cache_dir or nexus_home() / "serving" / "models"

    @property
    def risk_limits(self) -> RiskLimits:
        return RiskLimits(self.anomaly_halt, self.anomaly_resume, self.drawdown_limit)

    @field_validator("max_bar_age", mode="before")
    @classmethod
    def _seconds(cls, value: object) -> object:
        """A plain number of seconds, as every other duration here (pydantic reads only ISO text)."""
        if isinstance(value, str):
            try:
                return timedelta(seconds=float(value))
            except ValueError:
                return value
        return value

    @model_validator(mode="after")
    def _check_risk_limits(self) -> Settings:
        if self.anomaly_resume > self.anomaly_halt:
            raise ValueError(
                f"NEXUS_ANOMALY_RESUME ({self.anomaly_resume:g}) must not exceed NEXUS_ANOMALY_HALT "
                f"({self.anomaly_halt:g}): the latch would never hold"
            )
        return self

    @model_validator(mode="after")
    def _refuse_weak_tokens(self) -> Settings:
        admins = self.admins  # malformed entries are refused in every environment
        if self.env == "development":
            return self
        for name, token in admins:
            if len(token) < MIN_TOKEN_LENGTH or token.decode().lower() in PLACEHOLDER_TOKENS:
                raise ValueError(f"NEXUS_ADMIN_TOKENS: the token of {name!r} is weak; set a real secret")
            if token in self.tokens:
                raise ValueError(f"NEXUS_ADMIN_TOKENS: the token of {name!r} is also an API token")
        tokens = [t.decode() for t in self.tokens]
        if not tokens:
            raise ValueError(f"NEXUS_API_TOKENS: required when NEXUS_ENV={self.env}")
        for index, token in enumerate(tokens):
            if token.lower() in PLACEHOLDER_TOKENS or token.lower().startswith("dev-"):
                raise ValueError(f"NEXUS_API_TOKENS: token #{index + 1} is a placeholder; set a real secret")
            if len(token) < MIN_TOKEN_LENGTH:
                raise ValueError(
                    f"NEXUS_API_TOKENS: token #{index + 1} is shorter than {MIN_TOKEN_LENGTH} characters"
                )
        return self


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read from the environment once."""
    return Settings()
