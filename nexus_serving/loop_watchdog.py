"""Notice an event loop that has stopped turning, and end the worker so it is replaced.

uvicorn's supervisor pings its workers from a thread of their own, which answers while the
event loop is stuck, so a worker whose loop blocks keeps its connections and answers nobody.
Here the loop stamps a heartbeat every ``tick_s``; a thread that finds it older than
``stall_s`` writes out the audit queue (its writer is a thread too) and exits the process:
the supervisor, or the container platform for a single worker, starts a fresh one.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Callable

logger = logging.getLogger(__name__)

STALLED_EXIT_CODE = 70
"""Exit status of a worker ended for a stalled loop (EX_SOFTWARE)."""


class LoopWatchdog:
    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        stall_s: float,
        on_stall: Callable[[float], None],
        tick_s: float = 0.5,
    ) -> None:
        self._loop = loop
        self._stall_s = stall_s
        self._on_stall = on_stall
        self._tick_s = tick_s
        self._beat = time.monotonic()
        self._timer: asyncio.TimerHandle | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="loop-watchdog", daemon=True)

    def start(self) -> None:
        """Call on the loop being watched."""
        self._beat_now()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._timer is not None:
            self._timer.cancel()

    def _beat_now(self) -> None:
        self._beat = time.monotonic()
        self._timer = self._loop.call_later(self._tick_s, self._beat_now)

    def _watch(self) -> None:
        while not self._stop.wait(self._tick_s):
            stalled = time.monotonic() - self._beat
            if stalled > self._stall_s:
                self._on_stall(stalled)
                return


def end_stalled_worker(flush: Callable[[], None]) -> Callable[[float], None]:
    """The production ``on_stall``: log, write out what is queued, exit for a replacement."""

    def on_stall(stalled_s: float) -> None:
        logger.critical("event loop stalled for %.1f s: writing the audit queue and exiting", stalled_s)
        try:
            flush()
        finally:
            os._exit(STALLED_EXIT_CODE)

    return on_stall
