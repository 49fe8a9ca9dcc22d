"""Where Trade Nexus keeps local state when nothing else is configured.

Everything lives under one folder (``NEXUS_HOME``, default ``./.nexus``) so that the embedded
defaults never scatter files across the working directory and ``make clean`` can remove them.
"""

from __future__ import annotations

import os
from pathlib import Path


def nexus_home() -> Path:
    """Root of local state: ``NEXUS_HOME`` or ``./.nexus``."""
    return Path(os.environ.get("NEXUS_HOME", ".nexus")).resolve()


def data_dir() -> str:
    """Asset data location: ``NEXUS_DATA_DIR`` (a path or fsspec URL) or ``<home>/data``."""
    return os.environ.get("NEXUS_DATA_DIR") or str(nexus_home() / "data")


DECISION_STORE_PAGE_SIZE = 4_096
"""SQLite page size of a new decision store. An audit row holds its request without its bars
(~1 KB; the bars are stored once per window), and every commit writes each page it touched to
the WAL whole: a one-row commit took 48 us with 4 KB pages against 85 to 152 us with 16 KB
pages (``benchmarks/audit_commit.py``)."""


def decision_store_path() -> Path:
    """The embedded decision store (audit log, request ids, risk state): ``<home>/serving/audit.db``."""
    return nexus_home() / "serving" / "audit.db"


def decision_store_location(url: str | None) -> Path | str:
    """The SQLite file or PostgreSQL URL a decision store URL names (unset: the embedded file)."""
    return store_location(url, decision_store_path())


def order_ledger_path() -> Path:
    """The embedded order ledger (what was sent to the Live Engine): ``<home>/execution/ledger.db``."""
    return nexus_home() / "execution" / "ledger.db"


def store_location(url: str | None, default: Path) -> Path | str:
    """The SQLite file or PostgreSQL URL a store URL names (unset: ``default``).

    ``sqlite:///relative/path``, ``sqlite:////absolute/path``, ``postgresql://...`` (also
    ``postgres://`` and ``postgresql+driver://``, normalised to ``postgresql://``).
    """
    if not url:
        return default
    scheme = url.partition(":")[0].lower()
    if scheme == "sqlite":
        if not url.startswith("sqlite:///") or len(url) == len("sqlite:///"):
            raise ValueError("a SQLite store URL is sqlite:///relative/path or sqlite:////absolute/path")
        return Path(url.removeprefix("sqlite:///"))
    if scheme.partition("+")[0] in ("postgresql", "postgres"):
        return "postgresql" + url[len(scheme) :]
    raise ValueError(f"unsupported store URL scheme {scheme!r}: use sqlite:/// or postgresql://")
