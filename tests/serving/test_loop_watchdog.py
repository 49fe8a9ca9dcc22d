"""A worker whose event loop stops turning is noticed and ended, its audit queue written first."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from pathlib import Path

from nexus_serving.loop_watchdog import STALLED_EXIT_CODE, LoopWatchdog


def run_loop_in_thread() -> tuple[asyncio.AbstractEventLoop, threading.Thread]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    return loop, thread


def test_a_blocked_loop_is_noticed_and_a_turning_one_is_not():
    loop, thread = run_loop_in_thread()
    stalls: list[float] = []
    watchdog = LoopWatchdog(loop, stall_s=0.5, on_stall=stalls.append, tick_s=0.05)
    loop.call_soon_threadsafe(watchdog.start)
    time.sleep(1.0)  # the loop turns: nothing to report
    assert stalls == []
    loop.call_soon_threadsafe(time.sleep, 1.5)  # the loop is held, as by blocking I/O
    deadline = time.monotonic() + 3
    while not stalls and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(stalls) == 1
    assert 0.5 < stalls[0] < 1.5
    watchdog.stop()
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=5)


STALLING_WORKER = """
import asyncio, sys, time
from pathlib import Path
from nexus_serving.loop_watchdog import LoopWatchdog, end_stalled_worker

async def main():
    flushed = Path(sys.argv[1])
    watchdog = LoopWatchdog(asyncio.get_running_loop(), 0.5, end_stalled_worker(lambda: flushed.write_text("flushed")), 0.05)
    watchdog.start()
    await asyncio.sleep(0.3)
    time.sleep(30)  # the loop never turns again

asyncio.run(main())
"""


def test_a_stalled_worker_writes_its_queue_and_exits_to_be_replaced(tmp_path: Path):
    flushed = tmp_path / "flushed"
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", STALLING_WORKER, str(flushed)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == STALLED_EXIT_CODE, result.stderr
    assert time.monotonic() - started < 20  # not the 30 s the loop is held
    assert flushed.read_text() == "flushed"
    assert "event loop stalled" in result.stderr
