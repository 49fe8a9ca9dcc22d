"""Talking to the Lona gateway: client, typed errors, and signals derived from reports."""

from nexus_assets.lona.client import LonaClient
from nexus_assets.lona.errors import (
    LonaAuthError,
    LonaConfigError,
    LonaConflictError,
    LonaConnectionError,
    LonaError,
    LonaNotFoundError,
    LonaPayloadError,
    LonaProtocolError,
    LonaRateLimitError,
    LonaReportFailedError,
    LonaReportTimeoutError,
    LonaRequestError,
    LonaServerError,
    LonaValidationError,
)
from nexus_assets.lona.signals import SIGNAL_SCHEMA, empty_signals, signal_strength, signals_from_report
from nexus_assets.lona.simulation import SimulationParameters

__all__ = [
    "SIGNAL_SCHEMA",
    "LonaAuthError",
    "LonaClient",
    "LonaConfigError",
    "LonaConflictError",
    "LonaConnectionError",
    "LonaError",
    "LonaNotFoundError",
    "LonaPayloadError",
    "LonaProtocolError",
    "LonaRateLimitError",
    "LonaReportFailedError",
    "LonaReportTimeoutError",
    "LonaRequestError",
    "LonaServerError",
    "LonaValidationError",
    "SimulationParameters",
    "empty_signals",
    "signal_strength",
    "signals_from_report",
]
