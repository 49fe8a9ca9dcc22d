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
    LonaServerError,
    LonaValidationError,
)
from nexus_assets.lona.signals import SIGNAL_SCHEMA, empty_signals, signal_strength, signals_from_report

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
    "LonaServerError",
    "LonaValidationError",
    "empty_signals",
    "signal_strength",
    "signals_from_report",
]
