"""The shared risk state as a worker sees it: read from the decision store every ``poll_s``.

Every worker and replica polls the same store, so a change made through any of them holds on
all within one poll: the kill switch, a symbol's anomaly latch, a book's equity mark (folded
into ``SharedRisk``). While the store cannot be read the last state read stays in force and
``GET /v1/risk`` says since when it is unconfirmed. ``NEXUS_KILL_SWITCH`` is a floor: with it
set, every decision halts whatever the store says.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime

from nexus_assets.risk_store import RELEASED, EquityMark, KillSwitch, Latch, RiskStore
from nexus_serving.risk.held import SharedRisk

logger = logging.getLogger(__name__)


class RiskWatch:
    def __init__(
        self, store: RiskStore, risk: SharedRisk, *, held: bool = False, poll_s: float = 0.5
    ) -> None:
        self.store = store
        self.risk = risk
        self.held = held
        self._poll_s = poll_s
        self._state: KillSwitch = RELEASED
        self._latches: dict[str, Latch] = {}
        self._marks: dict[str, EquityMark] = {}
        self._read_at: datetime | None = None
        self._error: str | None = None
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="risk-watch", daemon=True)

    @property
    def engaged(self) -> bool:
        return self.held or self._state.engaged

    @property
    def state(self) -> KillSwitch:
        return self._state

    @property
    def latches(self) -> dict[str, Latch]:
        """The latches as last read from the store."""
        return self._latches

    @property
    def marks(self) -> dict[str, EquityMark]:
        """The equity marks as last read from the store."""
        return self._marks

    @property
    def read_at(self) -> datetime | None:
        """When the store last answered; None if it never has since start."""
        return self._read_at

    @property
    def error(self) -> str | None:
        """Why the last read failed, while it does."""
        return self._error

    def start(self) -> None:
        self._refresh()
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join(self._poll_s + 5.0)
        self.store.close()

    def set(self, engaged: bool, changed_by: str, reason: str) -> KillSwitch:
        """Record a change in the store (raises when it cannot be reached) and hold it here at once."""
        state = self.store.set(engaged, changed_by, reason)
        self._state, self._read_at, self._error = state, datetime.now(UTC), None
        logger.warning("kill switch %s by %s: %s", "engaged" if engaged else "released", changed_by, reason)
        return state

    def reset_mark(self, book: str, reset_by: str, reason: str, peak_equity: float | None) -> EquityMark:
        """Reset a book's high-water mark in the store (``KeyError``: no such book) and hold it here at once."""
        mark = self.store.reset_mark(book, reset_by, reason, peak_equity)
        self._marks = {**self._marks, book: mark}
        self.risk.absorb({}, {book: mark})
        logger.warning(
            "equity mark of book %s reset to %g by %s: %s", book, mark.peak_equity, reset_by, reason
        )
        return mark

    def _run(self) -> None:
        while not self._stopped.wait(self._poll_s):
            self._refresh()

    def _refresh(self) -> None:
        started = time.monotonic()
        try:
            snapshot = self.store.snapshot()
        except Exception as exc:
            if self._error is None:
                logger.error(
                    "risk state: %s cannot be read (%s); the last state read stays in force",
                    self.store.description, type(exc).__name__,
                )  # fmt: skip
            self._error = f"{type(exc).__name__}: the store could not be read"
            return
        state, latches, marks = snapshot.kill_switch, snapshot.latches, snapshot.marks
        if state.engaged != self._state.engaged:
            logger.warning(
                "kill switch %s by %s: %s (read in %.0f ms)",
                "engaged" if state.engaged else "released", state.changed_by, state.reason,
                (time.monotonic() - started) * 1000,
            )  # fmt: skip
        self.risk.absorb(latches, marks)
        self._state, self._latches, self._marks = state, latches, marks
        self._read_at, self._error = datetime.now(UTC), None
