"""The decision service's shared risk state as a Dagster resource: the allocation asset honours it too."""

from __future__ import annotations

import os

import dagster as dg
from pydantic import Field

from nexus_assets.risk_store import RiskSnapshot, RiskStore


class KillSwitchResource(dg.ConfigurableResource):
    """Reads the kill switch, the anomaly latches and the equity marks from the decision service's
    store; settings default to the service's own ``NEXUS_AUDIT_DATABASE_URL`` and
    ``NEXUS_AUDIT_SCHEMA`` (unset: the SQLite file under NEXUS_HOME)."""

    database_url: str | None = Field(
        default=None, description="Default: NEXUS_AUDIT_DATABASE_URL (never logged)."
    )
    schema_name: str | None = Field(default=None, description="Default: NEXUS_AUDIT_SCHEMA.")

    def snapshot(self) -> RiskSnapshot:
        """The whole risk state now; raises when the store cannot be read (no allocation without knowing)."""
        store = RiskStore(
            self.database_url or os.environ.get("NEXUS_AUDIT_DATABASE_URL") or None,
            self.schema_name or os.environ.get("NEXUS_AUDIT_SCHEMA") or None,
        )
        try:
            return store.snapshot()
        finally:
            store.close()
