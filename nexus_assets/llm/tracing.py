"""LangSmith tracing of LLM calls: on only when a LangSmith key is configured, secrets redacted.

With ``LANGSMITH_API_KEY`` set every call is traced to ``LANGSMITH_PROJECT`` (at
``LANGSMITH_ENDPOINT`` when given), tagged with the run, asset, model and prompt version.
Without a key tracing is switched off explicitly, even when ``LANGSMITH_TRACING=true`` is
set, so nothing leaves the process. Known secret values are scrubbed from traced inputs and
outputs, and the key itself only ever travels in a request header.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from langchain_core.runnables import RunnableConfig

SECRET_ENV_VARS: tuple[str, ...] = (
    "XAI_API_KEY",
    "LANGSMITH_API_KEY",
    "LANGCHAIN_API_KEY",
    "NEXUS_NEWS_TOKEN",
)
DEFAULT_PROJECT = "trade-nexus"
REDACTED = "[redacted]"


@dataclass(frozen=True)
class CallTags:
    """Who asked: travels as LangSmith metadata and tags on every call."""

    run_id: str = "local"
    asset_key: str = "none"
    model: str = "none"
    prompt_version: str = "none"

    def config(self, run_name: str) -> RunnableConfig:
        metadata = {
            "dagster_run_id": self.run_id,
            "asset_key": self.asset_key,
            "model": self.model,
            "prompt_version": self.prompt_version,
        }
        tags = [
            f"dagster_run:{self.run_id}",
            f"asset:{self.asset_key}",
            f"model:{self.model}",
            f"prompt:{self.prompt_version}",
        ]
        return RunnableConfig(run_name=run_name, metadata=metadata, tags=tags)


def _secret_values() -> list[str]:
    return [v for name in SECRET_ENV_VARS if len(v := os.environ.get(name, "")) >= 6]


def redact(value: Any) -> Any:
    """``value`` with every known secret replaced, recursively (LangSmith's hide_inputs/outputs hook)."""
    secrets = _secret_values()
    if not secrets:
        return value

    def scrub(item: Any) -> Any:
        if isinstance(item, str):
            for secret in secrets:
                item = item.replace(secret, REDACTED)
            return item
        if isinstance(item, Mapping):
            return {k: scrub(v) for k, v in item.items()}
        if isinstance(item, list | tuple):
            return [scrub(v) for v in item]
        return item

    return scrub(value)


@dataclass
class Tracing:
    """Tracing for one run; ``flush`` before the process may exit so queued traces are sent."""

    api_key: str | None = field(default=None, repr=False)
    project: str = DEFAULT_PROJECT
    endpoint: str | None = None
    _client: Any = field(default=None, repr=False)

    @classmethod
    def from_env(cls) -> Tracing:
        key = os.environ.get("LANGSMITH_API_KEY") or None
        if os.environ.get("LANGSMITH_TRACING", "").strip().lower() in ("false", "0", "no"):
            key = None
        return cls(
            api_key=key,
            project=os.environ.get("LANGSMITH_PROJECT") or DEFAULT_PROJECT,
            endpoint=os.environ.get("LANGSMITH_ENDPOINT") or None,
        )

    @property
    def enabled(self) -> bool:
        return bool(self.api_key)

    def client(self) -> Any:
        if self._client is None:
            from langsmith import Client

            self._client = Client(
                api_url=self.endpoint, api_key=self.api_key, hide_inputs=redact, hide_outputs=redact
            )
        return self._client

    @contextmanager
    def active(self) -> Iterator[None]:
        """Wrap one LLM call: traced to this client and project, or explicitly not traced."""
        from langsmith import tracing_context

        if not self.enabled:
            with tracing_context(enabled=False):
                yield
            return
        with tracing_context(enabled=True, client=self.client(), project_name=self.project):
            yield

    def flush(self) -> None:
        if self._client is not None:
            self._client.flush()

    def describe(self) -> str:
        return f"langsmith(project={self.project})" if self.enabled else "off (no LANGSMITH_API_KEY)"
