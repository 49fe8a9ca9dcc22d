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
