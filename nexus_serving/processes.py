"""Whether a process still runs: for what a dead worker left behind (spool claims, metric files)."""

from __future__ import annotations

import os


def alive(pid: int) -> bool:
    """True while ``pid`` runs (also when it belongs to another user, which signal 0 cannot reach)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
