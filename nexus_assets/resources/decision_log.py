"""The decision service's audit log as a Dagster resource: what was served, for monitoring."""

from __future__ import annotations

import os

import dagster as dg
import polars as pl
from pydantic import Field

from nexus_assets.decision_log import served_predictions, shadow_pairs


class DecisionLogResource(dg.ConfigurableResource):
    """Reads served decisions from the service's store; settings default to the service's own
    ``NEXUS_AUDIT_DATABASE_URL`` and ``NEXUS_AUDIT_SCHEMA`` (unset: the SQLite file under NEXUS_HOME)."""

    database_url: str | None = Field(
        default=None, description="Default: NEXUS_AUDIT_DATABASE_URL (never logged)."
    )
    schema_name: str | None = Field(default=None, description="Default: NEXUS_AUDIT_SCHEMA.")

    def _where(self) -> tuple[str | None, str | None]:
        return (
            self.database_url or os.environ.get("NEXUS_AUDIT_DATABASE_URL") or None,
            self.schema_name or os.environ.get("NEXUS_AUDIT_SCHEMA") or None,
        )

    def predictions(self, days: int) -> pl.DataFrame:
        return served_predictions(*self._where(), days=days)

    def shadow_pairs(self, days: int) -> pl.DataFrame:
        """The decisions the challengers were scored on, beside the champions' numbers."""
        return shadow_pairs(*self._where(), days=days)
