"""The long-lived objects one app instance shares across requests."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

from nexus_serving.allocation_reader import latest_allocation
from nexus_serving.allocation_schemas import AllocationResponse
from nexus_serving.audit import AuditLog
from nexus_serving.decider import MICRO_BATCH_MAX, PendingDecision, decide_all
from nexus_serving.decision_engine import EngineConfig, RiskLatches
from nexus_serving.idempotency import ResponseStore
from nexus_serving.metrics import ServiceMetrics
from nexus_serving.micro_batch import MicroBatcher
from nexus_serving.model_store import ModelStore
from nexus_serving.news_context import NewsReader
from nexus_serving.settings import Settings
from nexus_serving.stored_asset import StoredAsset


@dataclass
class Services:
    settings: Settings
    engine: EngineConfig
    store: ModelStore = field(default_factory=ModelStore)
    latches: RiskLatches = field(default_factory=RiskLatches)
    metrics: ServiceMetrics = field(default_factory=ServiceMetrics)
    responses: ResponseStore = field(init=False)
    allocations: StoredAsset[AllocationResponse] = field(init=False)
    news: NewsReader = field(init=False)
    decisions: MicroBatcher[PendingDecision, bytes] = field(init=False)
    """Single decision requests, decided together with those that arrive with them."""
    audit: AuditLog | None = None
    """Started by the app's lifespan; None when auditing is turned off."""

    def __post_init__(self) -> None:
        self.responses = ResponseStore(self.settings.idempotency_capacity)
        self.allocations = latest_allocation(self.settings.data_dir)
        self.news = NewsReader(self.settings.data_dir)
        self.decisions = MicroBatcher(partial(decide_all, self), MICRO_BATCH_MAX)
