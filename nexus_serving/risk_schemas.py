"""Bodies of the risk routes: the kill switch as every worker holds it, and a change to it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field

from nexus_serving.schemas import StrictModel, _printable

Reason = Annotated[str, Field(min_length=1, max_length=500), AfterValidator(_printable)]


class KillSwitchChange(StrictModel):
    engaged: bool
    """true stops new risk on every worker, replica and the allocation asset; false releases it."""
    reason: Reason
    """Why, recorded with the admin's name and the time."""


class KillSwitchStatus(BaseModel):
    engaged: bool
    """In force on this worker: the store's switch, or the deployment's ``NEXUS_KILL_SWITCH``."""
    held_by_deployment: bool
    """``NEXUS_KILL_SWITCH`` is set: decisions halt whatever the store says."""
    changed_by: str | None
    changed_at: datetime | None
    reason: str | None
    read_at: datetime | None
    """When this worker last read the store; the state above is unconfirmed since then while ``error`` is set."""
    error: str | None


class RiskResponse(BaseModel):
    kill_switch: KillSwitchStatus
