"""The long-lived objects one app instance shares across requests, assembled by ``main.create_app``."""

from __future__ import annotations

from dataclasses import dataclass

from nexus_serving.allocation_schemas import AllocationResponse
from nexus_serving.audit import AuditLog
from nexus_serving.console.stored_tables import StoredTables
from nexus_serving.decisions.micro_batch import MicroBatcher
from nexus_serving.decisions.pipeline import Answer, DecisionPipeline, PendingDecision
from nexus_serving.metrics import ServiceMetrics
from nexus_serving.model_store import ModelStore
from nexus_serving.risk.watch import RiskWatch
from nexus_serving.settings import Settings
from nexus_serving.stored_asset import StoredAsset


@dataclass
class Services:
    settings: Settings
    store: ModelStore
    metrics: ServiceMetrics
    pipeline: DecisionPipeline
    decisions: MicroBatcher[PendingDecision, Answer]
    """Single decision requests, decided together with those that arrive with them."""
    allocations: StoredAsset[AllocationResponse]
    risk_watch: RiskWatch
    """Read from the decision store by a thread of its own; started by the app's lifespan."""
    tables: StoredTables
    """The strategies, reviews and monitoring snapshot the console shows."""
    audit: AuditLog | None = None
    """Started by the app's lifespan; None when auditing is turned off."""
