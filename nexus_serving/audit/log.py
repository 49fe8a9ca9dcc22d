"""The decision audit log: every new decision, durable before it is answered.

A request appends a small ``AuditRecord`` (references to objects and JSON bytes it already
holds) to a queue bounded in records and in bytes and waits on the record's ``stored`` future;
one writer thread serialises what is queued and commits it as one transaction (group commit:
no timer, a batch is what arrived while the last one was written), then settles the futures.
The commit claims each request id (``sinks``), so a decision whose id another worker or
replica decided first is not stored and its request gets that decision instead.

When the store fails for longer than ``spill_after_s``, batches go to a local durable spool
instead (``spool``) and are forwarded, in order and in slices between new batches, once
the store answers again, so a long outage costs disk, not memory. A request is refused (503)
rather than decided when the queue is full, which happens only while neither the store nor
the spool takes records. ``close`` drains the queue before returning (into the spool if
the store is down), so a clean shutdown loses nothing.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from tenacity import RetryCallState, Retrying, stop_after_delay, wait_exponential

from nexus_serving.audit.record import (
    AuditRecord,
    AuditUnavailableError,
    AuditWriteError,
    to_row,
)
from nexus_serving.audit.sinks import (
    REJECTED_TABLE,
    AuditRow,
    AuditSink,
    Committed,
    Holder,
    default_sqlite_path,
    open_sink,
)
from nexus_serving.audit.spool import AuditSpool, SpoolError
from nexus_serving.metrics import ServiceMetrics, multiprocess_dir
from nexus_serving.settings import Settings

logger = logging.getLogger(__name__)

KNOWN_WINDOWS = 16_384
"""Bar windows a writer remembers as stored (about 1.5 MB): one forgotten is stored again, a no-op."""

IDLE_WAIT_S = 0.25
"""How long an idle writer sleeps before looking at whether the log is closing."""
DROP_LOG_INTERVAL_S = 10.0
"""At most one drop warning per interval, so a full queue cannot flood the log."""
FORWARD_INTERVAL_S = 1.0
"""How often a spooling writer tries to forward the spool to the store while it fails."""
FORWARD_SLICE_ROWS = 500
"""Spooled rows forwarded between two batches of new records: a long spool is forwarded in
slices, so the requests waiting meanwhile are answered within a slice's write, not the spool's."""


class AuditLog:
    def __init__(
        self,
        sink: AuditSink,
        metrics: ServiceMetrics,
        *,
        capacity: int = 100_000,
        max_bytes: int = 256 * 1024 * 1024,
        spool: AuditSpool | None = None,
        spill_after_s: float = 1.0,
        batch_size: int = 500,
        close_timeout_s: float = 10.0,
        max_backoff_s: float = 2.0,
    ) -> None:
        self.sink = sink
        self.spool = spool
        self._metrics = metrics
        self._queue: queue.Queue[AuditRecord] = queue.Queue(maxsize=capacity)
        self._max_bytes = max_bytes
        self._bytes = 0
        self._bytes_lock = threading.Lock()
        self._spill_after_s = spill_after_s
        self._spooling = False
        self._next_forward = 0.0
        self._batch_size = batch_size
        self._close_timeout_s = close_timeout_s
        self._max_backoff_s = max_backoff_s
        self._in_hand = 0
        self._windows: dict[bytes, None] = {}
        """Bar windows this writer has stored or spooled, oldest first (``KNOWN_WINDOWS`` at most):
        a row on one of them carries its address only."""
        self._closing = threading.Event()
        self._close_deadline = float("inf")
        self._last_drop_log = -DROP_LOG_INTERVAL_S
        self._thread = threading.Thread(target=self._run, name="decision-audit-writer", daemon=True)
        self._shared_metrics = multiprocess_dir() is not None
        if not self._shared_metrics:  # read at scrape time; in multiprocess mode the writer sets them
            metrics.audit_queue_depth.set_function(lambda: self.depth)
            metrics.audit_queue_bytes.set_function(lambda: self._bytes)

    @property
    def depth(self) -> int:
        """Records waiting to be stored: queued plus the batch the writer holds."""
        return self._queue.qsize() + self._in_hand

    def start(self) -> None:
        logger.info("decision audit log writes to %s", self.sink.description)
        if self.spool is not None:
            self.spool.recover()
            if self.spool.pending:
                # Records an earlier run spooled go to the store before any new one.
                logger.warning("decision audit: forwarding what %s holds first", self.spool.directory)
                self._spooling = True
        self._thread.start()

    def admits(self) -> bool:
        """Whether a new decision can be recorded now; False means answer 503 and decide nothing."""
        return not (self._closing.is_set() or self._queue.full() or self._bytes >= self._max_bytes)

    def record(self, record: AuditRecord) -> Future[Holder | None]:
        """Queue ``record`` without blocking and return its ``stored`` future.

        When the queue is full or the log closed, the future has failed already with
        ``AuditUnavailableError`` (counted as dropped); callers ask ``admits`` before deciding,
        so that is a race with the bound.
        """
        if not self._closing.is_set():
            try:
                self._queue.put_nowait(record)
                with self._bytes_lock:
                    self._bytes += record.size
                return record.stored
            except queue.Full:
                pass
        self._metrics.audit_dropped.inc()
        now = time.monotonic()
        reason = "the log is closed" if self._closing.is_set() else "the queue is full"
        if now - self._last_drop_log >= DROP_LOG_INTERVAL_S:
            self._last_drop_log = now
            logger.warning("decision audit record dropped: %s (%d waiting)", reason, self.depth)
        record.stored.set_exception(AuditUnavailableError(f"the decision audit log took nothing: {reason}"))
        return record.stored

    def close(self) -> None:
        """Store everything queued (retrying a failing sink for up to ``close_timeout_s``), then stop."""
        if self._closing.is_set():
            return
        self._close_deadline = time.monotonic() + self._close_timeout_s
        self._closing.set()
        if self._thread.is_alive():
            self._thread.join(self._close_timeout_s + 5.0)
        if self._thread.is_alive():
            logger.error("decision audit: the writer did not finish; %d records not stored", self.depth)
        elif not self._queue.empty():  # never started, or a record slipped in as the writer stopped
            self._run()

    def _run(self) -> None:
        try:
            while True:
                backlog = self._spooling and time.monotonic() >= self._next_forward
                batch = self._take(wait=not backlog)
                if self._spooling:
                    self._forward(max_rows=FORWARD_SLICE_ROWS)
                if batch:
                    self._write(batch)
                if self._shared_metrics:
                    self._metrics.audit_queue_depth.set(self.depth)
                    self._metrics.audit_queue_bytes.set(self._bytes)
                if not batch and self._closing.is_set():
                    if self._spooling:
                        self._forward(final=True)
                    break
        finally:
            if self.spool is not None:
                self.spool.release()
            self.sink.close()

    def _take(self, wait: bool = True) -> list[AuditRecord]:
        """The next batch: wait for a first record (unless the spool has a slice to forward), then
        take what queued meanwhile. No gathering on a timer: every request waits for its commit."""
        try:
            first = self._queue.get(timeout=IDLE_WAIT_S) if wait else self._queue.get_nowait()
        except queue.Empty:
            return []
        batch = [first]
        while len(batch) < self._batch_size:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        self._in_hand = len(batch)
        return batch

    def _write(self, batch: Sequence[AuditRecord]) -> None:
        """Store or spool the batch, then settle each record's future with what became of it."""
        records, rows = [], []
        carried: dict[bytes, None] = {}
        for record in batch:
            window = record.window
            carry = bool(window) and window not in self._windows and window not in carried
            try:
                rows.append(to_row(record, with_window=carry))
                records.append(record)
                if carry:
                    carried[window] = None
            except Exception as exc:  # a record that cannot be serialised must not block the others
                self._metrics.audit_dropped.inc()
                logger.error("decision audit record %s dropped: %s", record.response.decision_id, exc)
                record.stored.set_exception(AuditWriteError(f"the decision could not be recorded: {exc}"))
        try:
            committed = self._to_spool(rows) if self._spooling else self._to_store(rows)
        finally:
            with self._bytes_lock:
                self._bytes -= sum(record.size for record in batch)
            self._in_hand = 0
        if committed is not None:
            self._known(carried)
        for record in records:
            if committed is None:
                record.stored.set_exception(AuditWriteError("the decision could not be stored; retry"))
            else:
                record.stored.set_result(committed.taken.get(record.response.decision_id))

    def _known(self, windows: dict[bytes, None]) -> None:
        self._windows.update(windows)
        while len(self._windows) > KNOWN_WINDOWS:
            del self._windows[next(iter(self._windows))]

    def _to_store(self, rows: list[AuditRow]) -> Committed | None:
        """Commit to the store, retrying; past ``spill_after_s`` (with a spool) the rows go to the
        spool. None when they are lost (no spool, and the store is still down at shutdown)."""
        stop = (
            self._give_up if self.spool is None else (stop_after_delay(self._spill_after_s) | self._give_up)
        )
        try:
            committed = self._retrying(stop)(self._commit, rows)
        except Exception as exc:
            if self.spool is not None:
                logger.warning(
                    "decision audit: %s is not taking records (%s); spooling to %s until it is back",
                    self.sink.description, self.sink.redact(str(exc)), self.spool.directory,
                )  # fmt: skip
                self._spooling = True
                self._next_forward = time.monotonic() + FORWARD_INTERVAL_S
                return self._to_spool(rows)
            self._metrics.audit_dropped.inc(len(rows))
            logger.error(
                "decision audit: %d records lost at shutdown, %s is unavailable: %s",
                len(rows), self.sink.description, self.sink.redact(str(exc)),
            )  # fmt: skip
            return None
        return committed

    def _to_spool(self, rows: list[AuditRow]) -> Committed | None:
        """Append to the spool, retrying while it fails (a full disk): the queue then fills and
        new requests are refused, nothing is dropped; at shutdown only until the close deadline.
        None when the rows are lost that way."""
        try:
            return self._retrying(self._give_up)(self._spool_or_store, rows)
        except Exception as exc:
            self._metrics.audit_dropped.inc(len(rows))
            logger.error(
                "decision audit: %d records lost at shutdown, neither %s nor the spool takes them: %s",
                len(rows), self.sink.description, self.sink.redact(str(exc)),
            )  # fmt: skip
            return None

    def _retrying(self, stop: Any) -> Retrying:
        return Retrying(
            wait=wait_exponential(multiplier=0.05, max=self._max_backoff_s),
            stop=stop,
            sleep=self._backoff,
            before_sleep=self._log_failure,
            reraise=True,
        )

    def _spool_or_store(self, rows: list[AuditRow]) -> Committed:
        """Spooled rows are answered as they are (no request id is checked while the store is down)."""
        assert self.spool is not None
        try:
            self.spool.append(rows)
        except SpoolError:
            # The spool's disk is full; should the store be back, the spool goes first, then these.
            if not self._forward(force=True):
                raise
            return self._commit(rows)
        self._spooling = True  # what is in the spool goes to the store before anything newer
        self._metrics.audit_spooled.inc(len(rows))
        return Committed()

    def _commit(self, rows: list[AuditRow]) -> Committed:
        committed = self.sink.commit(rows)
        self._count_stored(len(rows) - len(committed.taken), committed.rejected)
        return committed

    def _forward(self, *, final: bool = False, force: bool = False, max_rows: int | None = None) -> bool:
        """Forward the spool (or a slice of it) when it is time to try; True once the spool is empty."""
        assert self.spool is not None
        now = time.monotonic()
        if not (final or force) and now < self._next_forward:
            return False
        while True:
            try:
                written, refused = self.spool.forward(self.sink, max_rows)
            except Exception as exc:
                self._next_forward = time.monotonic() + FORWARD_INTERVAL_S
                if final:
                    if time.monotonic() < self._close_deadline:
                        time.sleep(0.25)
                        continue
                    logger.warning(
                        "decision audit: %s is still unavailable (%s); spooled records stay in %s and "
                        "are forwarded by the next start",
                        self.sink.description, self.sink.redact(str(exc)), self.spool.directory,
                    )  # fmt: skip
                return False
            if written or refused:
                self._count_stored(written + refused, refused)
                logger.info(
                    "decision audit: forwarded %d spooled records to %s", written, self.sink.description
                )
            if not self.spool.pending:
                self._spooling = False
                return True
            if max_rows is not None:
                return False  # the next slice after the next batch

    def _count_stored(self, count: int, rejected: int) -> None:
        self._metrics.audit_written.inc(count - rejected)
        if rejected:
            self._metrics.audit_rejected.inc(rejected)
            logger.error(
                "decision audit: %s refused %d of %d records for their content; they are in %s",
                self.sink.description, rejected, count, REJECTED_TABLE,
            )  # fmt: skip

    def _give_up(self, state: RetryCallState) -> bool:
        """Retry for as long as the service runs; at shutdown only until the close deadline."""
        return self._closing.is_set() and time.monotonic() >= self._close_deadline

    def _backoff(self, seconds: float) -> None:
        if self._closing.is_set():
            time.sleep(min(seconds, 0.25))
        else:
            self._closing.wait(seconds)

    def _log_failure(self, state: RetryCallState) -> None:
        attempt = state.attempt_number
        if attempt & (attempt - 1) == 0:  # 1, 2, 4, 8, ...: visible, never a flood
            exc = state.outcome.exception() if state.outcome else None
            logger.warning(
                "decision audit: writing %d records failed (attempt %d, %d waiting), retrying: %s",
                self._in_hand, attempt, self.depth, self.sink.redact(str(exc)),
            )  # fmt: skip


def default_spool_dir() -> Path:
    return default_sqlite_path().parent / "audit-spool"


def open_audit_log(settings: Settings, metrics: ServiceMetrics) -> AuditLog | None:
    """The audit log the settings describe, not yet started; None when auditing is turned off."""
    if not settings.audit_enabled:
        return None
    url = settings.audit_database_url.get_secret_value() if settings.audit_database_url else None
    sink = open_sink(url, settings.audit_schema)
    spool_dir = settings.audit_spool_dir or default_spool_dir()
    return AuditLog(
        sink,
        metrics,
        capacity=settings.audit_queue_size,
        max_bytes=settings.audit_queue_bytes,
        spool=AuditSpool(spool_dir),
        spill_after_s=settings.audit_spill_after_s,
        close_timeout_s=settings.audit_flush_timeout_s,
    )
