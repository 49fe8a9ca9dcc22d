"""Helpers for tests that run ``nexus serve`` as a real process: its environment, start, workers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from serving_support import TOKEN

NEXUS = str(Path(sys.executable).with_name("nexus"))


def serve_env(**extra: str) -> dict[str, str]:
    return {**os.environ, "NEXUS_ENV": "test", "NEXUS_API_TOKENS": TOKEN, **extra}


def start_serve(port: int, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    """``nexus serve`` on ``port`` (with ``args``) as a process of its own, its output kept."""
    return subprocess.Popen(
        [NEXUS, "serve", "--port", str(port), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def worker_pids(pid: int) -> list[int]:
    """The spawned worker processes of ``pid`` (not multiprocessing's resource tracker)."""
    tasks = Path(f"/proc/{pid}/task").iterdir()
    children = [int(child) for task in tasks for child in (task / "children").read_text().split()]
    return [c for c in children if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]
