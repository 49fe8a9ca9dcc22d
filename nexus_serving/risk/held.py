"""The shared risk state as one worker holds it: anomaly latches per symbol, equity marks per book.

The decision store is the truth (``nexus_assets.risk_store``): a decision's moves are written
with its audit row, and ``RiskWatch`` folds what the store holds into this worker every poll,
so another worker's or replica's move holds here within ``NEXUS_RISK_POLL_SECONDS``. Between
polls, this worker's own moves hold at once.

A pass of the pipeline decides inside one ``open_pass``: its requests see each other's moves
in order, and the moves are kept only when the pass commits them, so a pass that fails keeps none.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime

from nexus_assets.ml.portfolio.risk_gate import RiskState
from nexus_assets.risk_store import EquityMark, Latch, RiskMove

NOT_HALTED = RiskState()


@dataclass(frozen=True, slots=True)
class _HeldLatch:
    state: RiskState
    moved_at: datetime
    """When the decision that moved it was made: a stored move older than this is not folded in."""


@dataclass(frozen=True, slots=True)
class HeldMark:
    peak_equity: float
    generation: int


class SharedRisk:
    def __init__(self) -> None:
        self._latches: dict[str, _HeldLatch] = {}
        self._marks: dict[str, HeldMark] = {}
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def open_pass(self) -> Iterator[RiskPass]:
        with self._lock:
            yield RiskPass(self)

    def state(self, symbol: str) -> RiskState:
        held = self._latches.get(symbol)
        return NOT_HALTED if held is None else held.state

    def mark(self, book: str) -> HeldMark | None:
        return self._marks.get(book)

    def absorb(self, latches: Mapping[str, Latch], marks: Mapping[str, EquityMark]) -> None:
        """Fold in what the store holds: a latch moved after this worker's last move of it, a
        mark's higher peak, or a mark's new generation (a reset)."""
        with self._lock:
            for symbol, latch in latches.items():
                held = self._latches.get(symbol)
                if held is None or latch.changed_at > held.moved_at:
                    self._latches[symbol] = _HeldLatch(
                        RiskState(anomaly_halted=latch.halted), latch.changed_at
                    )
            for book, mark in marks.items():
                self._hold_mark(book, mark.peak_equity, mark.generation)

    def _keep(self, move: RiskMove, at: datetime) -> None:
        """A move of this worker's, from a pass that committed (under ``open_pass``'s lock)."""
        if move.halted is not None:
            self._latches[move.symbol] = _HeldLatch(RiskState(anomaly_halted=move.halted), at)
        if move.book is not None:
            self._hold_mark(move.book, max(move.peak_equity, move.equity), move.generation)

    def _hold_mark(self, book: str, peak_equity: float, generation: int) -> None:
        held = self._marks.get(book)
        if (
            held is None
            or generation > held.generation
            or (generation == held.generation and peak_equity > held.peak_equity)
        ):
            self._marks[book] = HeldMark(peak_equity, generation)


class RiskPass:
    """Moves staged by one pass: read before the held ones, kept by ``commit``."""

    def __init__(self, shared: SharedRisk) -> None:
        self._shared = shared
        self._latches: dict[str, RiskState] = {}
        self._marks: dict[str, HeldMark] = {}
        self._moves: list[tuple[RiskMove, datetime]] = []

    def latch(self, symbol: str) -> RiskState:
        staged = self._latches.get(symbol)
        return self._shared.state(symbol) if staged is None else staged

    def mark(self, book: str) -> HeldMark | None:
        return self._marks.get(book) or self._shared.mark(book)

    def stage(self, move: RiskMove, at: datetime) -> None:
        if move.halted is not None:
            self._latches[move.symbol] = RiskState(anomaly_halted=move.halted)
        if move.book is not None:
            self._marks[move.book] = HeldMark(max(move.peak_equity, move.equity), move.generation)
        self._moves.append((move, at))

    def commit(self) -> None:
        for move, at in self._moves:
            self._shared._keep(move, at)
        self._moves.clear()
