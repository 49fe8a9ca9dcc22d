"""The long-lived objects one app instance shares across requests."""

from __future__ import annotations

from dataclasses import dataclass, field

from nexus_serving.decision_engine import EngineConfig, ResponseStore, RiskLatches
from nexus_serving.metrics import ServiceMetrics
from nexus_serving.model_store import ModelStore
from nexus_serving.settings import Settings


@dataclass
class Services:
    settings: Settings
    engine: EngineConfig
    store: ModelStore = field(default_factory=ModelStore)
    latches: RiskLatches = field(default_factory=RiskLatches)
    metrics: ServiceMetrics = field(default_factory=ServiceMetrics)
    responses: ResponseStore = field(init=False)

    def __post_init__(self) -> None:
        self.responses = ResponseStore(self.settings.idempotency_capacity)
