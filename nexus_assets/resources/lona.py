"""The Lona gateway as a Dagster resource, configured from the environment."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
from pydantic import Field

from nexus_assets.lona.client import LonaClient


class LonaGateway(dg.ConfigurableResource):
    """Connection settings for Lona; ``client()`` opens a retrying, typed-error HTTP client."""

    base_url: str = Field(
        description="Gateway URL including the API prefix, e.g. https://gateway.lona.agency/api/v1"
    )
    token: str = Field(description="Agent token sent as X-API-Key.")
    user_id: str = Field(description="Agent id sent as X-User-Id.")
    timeout_s: float = Field(default=10.0, gt=0, description="Per-request timeout in seconds.")
    max_attempts: int = Field(
        default=4, ge=1, le=10, description="Attempts on 429, 5xx and transport errors."
    )
    backoff_base_s: float = Field(default=0.5, gt=0, description="First retry delay; doubles per attempt.")

    @contextmanager
    def client(self, max_attempts: int | None = None) -> Iterator[LonaClient]:
        """A client; ``max_attempts`` lowers the retries for callers on a deadline (sensors)."""
        with LonaClient(
            self.base_url,
            self.token,
            self.user_id,
            timeout_s=self.timeout_s,
            max_attempts=min(self.max_attempts, max_attempts or self.max_attempts),
            backoff_base_s=self.backoff_base_s,
        ) as client:
            yield client
