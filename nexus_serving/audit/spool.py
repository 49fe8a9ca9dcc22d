"""The audit spool: decision records on local disk while the audit store cannot take them.

When the store is down or slow, the writer appends each batch to a segment file here (one
JSON array per line, flushed and fsynced before the batch counts as spooled) instead of
holding it in memory. The spool is forwarded to the store oldest segment first, before any
newer record, so the store receives records in the order they were decided. Forwarding is
safe to repeat: the store keeps the first row per ``decision_id`` and ignores the others, so
a segment forwarded and then forwarded again (a worker killed before deleting it) adds nothing.

Several workers share one spool folder. A worker claims a segment by renaming it (atomic on
one file system) before forwarding it, so two workers never forward the same segment at
once; a segment claimed by a worker that has since died is released at start-up. A claimed
segment may be forwarded in slices (``max_rows``), so that a writer with a long spool behind
it still takes its new records between slices; the claim is kept from one slice to the next.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path

import orjson

from nexus_assets.risk_store import RiskMove
from nexus_serving.audit.sinks import RISK_MOVE, WINDOW, AuditRow, AuditSink
from nexus_serving.processes import alive

logger = logging.getLogger(__name__)

SEGMENT_BYTES = 64 * 1024 * 1024
"""A segment is closed and a new one begun past this size, so a forwarded segment can be deleted."""
FORWARD_ROWS = 500
"""Rows per store write when forwarding: the writer's own batch size."""
SEGMENT_SUFFIX = ".jsonl"
CLAIMED_MARK = ".forwarding-"


class SpoolError(OSError):
    """The spool could not be written (disk full, folder not writable)."""


def encode_row(row: AuditRow) -> bytes:
    move = row[RISK_MOVE]
    return (
        orjson.dumps(
            [*row[:2], row[2].isoformat(), *row[3:RISK_MOVE], move and move.as_list(), *row[WINDOW:]]
        )
        + b"\n"
    )


def decode_row(line: bytes) -> AuditRow:
    """A spooled row; one spooled before fingerprints were kept gets ``""`` (it claims no id),
    one spooled before risk moves were kept moves nothing, one spooled before bar windows were
    kept holds its bars in its request."""
    values = orjson.loads(line)
    fingerprint = values[10] if len(values) > 10 else ""
    move = values[11] if len(values) > 11 else None
    return (
        *values[:2],
        datetime.fromisoformat(values[2]),
        *values[3:7],
        float(values[7]),
        *values[8:10],
        fingerprint,
        None if move is None else RiskMove.of_list(move),
        values[12] if len(values) > 12 else "",
        values[13] if len(values) > 13 else None,
    )


class AuditSpool:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._pid = os.getpid()
        self._sequence = 0
        self._segment: Path | None = None
        self._segment_bytes = 0
        self._claim: tuple[Path, Path] | None = None
        """The segment being forwarded: its name, and the name it has while claimed."""
        self._claim_offset = 0
        """Bytes of the claimed segment already forwarded."""

    def recover(self) -> None:
        """Release segments claimed by workers that are no longer running.

        Called at start, when this worker holds no claim: a claim under its own pid was made by
        a dead worker whose pid it was given again (pids restart low in a new container).
        """
        if not self.directory.is_dir():
            return
        for path in self.directory.glob(f"*{CLAIMED_MARK}*"):
            pid_text = path.name.rsplit(CLAIMED_MARK, 1)[1]
            if pid_text.isdigit() and (int(pid_text) == self._pid or not alive(int(pid_text))):
                try:
                    path.rename(path.with_name(path.name.split(CLAIMED_MARK)[0]))
                except OSError:
                    continue

    def append(self, rows: Sequence[AuditRow]) -> None:
        """Make ``rows`` durable on disk; ``SpoolError`` when they could not all be written."""
        data = b"".join(encode_row(row) for row in rows)
        try:
            if self._segment is None or self._segment_bytes >= SEGMENT_BYTES:
                self.directory.mkdir(parents=True, exist_ok=True)
                self._sequence += 1
                # Time first, so segments of all workers sort in the order they were begun.
                name = f"{datetime.now().strftime('%Y%m%dT%H%M%S%f')}-{self._pid}-{self._sequence:06d}"
                self._segment, self._segment_bytes = self.directory / f"{name}{SEGMENT_SUFFIX}", 0
            with self._segment.open("ab") as segment:
                start = segment.tell()
                try:
                    segment.write(data)
                    segment.flush()
                    os.fsync(segment.fileno())
                except OSError:
                    # A partial line would poison the segment: cut it back to what was whole.
                    segment.truncate(start)
                    raise
            self._segment_bytes += len(data)
        except OSError as exc:
            raise SpoolError(exc.errno, f"audit spool {self.directory}: {exc.strerror or exc}") from exc

    def segments(self) -> list[Path]:
        """Unclaimed segments, oldest first."""
        if not self.directory.is_dir():
            return []
        return sorted(self.directory.glob(f"*{SEGMENT_SUFFIX}"))

    @property
    def pending(self) -> bool:
        return self._claim is not None or bool(self.segments())

    def forward(self, sink: AuditSink, max_rows: int | None = None) -> tuple[int, int]:
        """Write segments to ``sink`` in order, deleting each once written; ``(rows written, rows refused)``.

        With ``max_rows``, stops after about that many rows (whole chunks), keeping the segment
        it is in claimed for the next call. Stops at the first store error, which propagates:
        the segment being forwarded is released again and forwarded from its start next time
        (the store ignores repeats).
        """
        written = refused = 0
        budget = max_rows if max_rows is not None else float("inf")
        while budget > 0:
            if self._claim is None and not self._claim_next():
                break
            claimed = self._claim[1]  # type: ignore[index]
            try:
                for chunk, end in _chunks(claimed, self._claim_offset):
                    rejected = sink.write(chunk)
                    written += len(chunk) - rejected
                    refused += rejected
                    budget -= len(chunk)
                    self._claim_offset = end
                    if budget <= 0:
                        break
                else:
                    claimed.unlink()
                    self._claim = None
            except BaseException:
                self.release()
                raise
        return written, refused

    def release(self) -> None:
        """Give back the segment this worker is forwarding, so any worker forwards it from its start."""
        if self._claim is not None:
            origin, claimed = self._claim
            self._claim = None
            claimed.rename(origin)

    def _claim_next(self) -> bool:
        for path in self.segments():
            if path == self._segment:
                self._segment = None  # begin a new segment for what comes meanwhile
            claimed = path.with_name(f"{path.name}{CLAIMED_MARK}{self._pid}")
            try:
                path.rename(claimed)
            except FileNotFoundError:
                continue  # another worker claimed it
            self._claim, self._claim_offset = (path, claimed), 0
            return True
        return False


def _chunks(path: Path, offset: int) -> Iterator[tuple[list[AuditRow], int]]:
    """Rows of ``path`` from byte ``offset`` on, ``FORWARD_ROWS`` at a time, each with the offset after it."""
    chunk: list[AuditRow] = []
    with path.open("rb") as segment:
        segment.seek(offset)
        for line in segment:
            if not line.endswith(b"\n"):
                logger.error("audit spool %s: an incomplete last line was skipped", path)
                break
            chunk.append(decode_row(line))
            offset += len(line)
            if len(chunk) >= FORWARD_ROWS:
                yield chunk, offset
                chunk = []
    if chunk:
        yield chunk, offset
