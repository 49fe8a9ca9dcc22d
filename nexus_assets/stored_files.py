"""Writing a stored file so that a reader sees the old one or the new one, never half of either.

On local disk the bytes go to a temporary file beside the target, then ``os.replace``; an object
store (``az://``, ``s3://``) publishes an upload only once it completes.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from upath import UPath


def is_local(path: UPath) -> bool:
    return path.protocol in ("", "file", "local")


def write_atomically(path: UPath, write: Callable[[BinaryIO], object]) -> None:
    """Call ``write`` with a binary handle whose bytes replace ``path`` in one step."""
    if not is_local(path):
        with path.open("wb") as sink:
            write(sink)
        return
    target = Path(path.path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as sink:
            write(sink)
        os.replace(temporary, target)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
