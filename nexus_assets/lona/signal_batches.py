"""Which Lona signals are new since the last poll, and the name of a batch of them.

Lona pushes nothing, so a poller reads each strategy's newest completed report and keeps a
cursor: per strategy, the report it read last, the time of the newest signal it handed on
(its *watermark*) and the ids of the signals handed on at exactly that time. A report spans
every bar revealed so far, so the signals of a newer report that are new are those after the
watermark plus those at the watermark that were not handed on yet (a late event on the
watermark's bar, or a second one on the same bar). The cursor moves only for strategies whose report was read
in full: a strategy Lona fails to serve keeps its old mark and is read again next time.

A batch is named by a hash of its sorted signal ids, so polling again from the same cursor
(a restarted daemon) names the same batch, and a run keyed by that name is never requested twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

import orjson
import polars as pl

from nexus_assets.lona.client import LonaClient
from nexus_assets.lona.errors import LonaError
from nexus_assets.lona.signals import SIGNAL_SCHEMA, signals_from_report
from nexus_assets.lona.wire import format_time, parse_time

CURSOR_VERSION = 1
SIGNAL_BATCH_TAG = "nexus/signal_batch"
"""Run tag naming the batch a run was requested for."""


class CursorError(ValueError):
    """A cursor that is not one this module wrote."""


@dataclass(frozen=True)
class StrategyMark:
    """How far one strategy's signals have been handed on."""

    report_id: str
    through: datetime | None
    """Time of the newest signal handed on; None while the strategy has produced none."""
    at_through: frozenset[str] | None = None
    """Ids of the signals handed on at ``through``; None in a cursor written before they were
    kept, which handed on everything at ``through``."""


@dataclass(frozen=True)
class SignalCursor:
    marks: Mapping[str, StrategyMark] = field(default_factory=dict)

    def to_json(self) -> str:
        """Compact JSON: ``{"v": 1, "strategies": {id: {"report": id, "through": time|null,
        "at": [ids at through]}}}``."""
        strategies = {sid: _mark_json(mark) for sid, mark in sorted(self.marks.items())}
        return orjson.dumps({"v": CURSOR_VERSION, "strategies": strategies}).decode()

    @classmethod
    def parse(cls, text: str | None) -> SignalCursor:
        """The cursor in ``text``; empty for None or ''; ``CursorError`` for anything else."""
        if not text:
            return cls()
        try:
            payload = orjson.loads(text)
            if payload.get("v") != CURSOR_VERSION:
                raise CursorError(f"cursor version {payload.get('v')!r} is not {CURSOR_VERSION}")
            marks = {
                str(sid): StrategyMark(
                    report_id=_text(entry["report"]),
                    through=None if entry["through"] is None else parse_time(entry["through"]),
                    at_through=_ids(entry["at"]) if "at" in entry else None,
                )
                for sid, entry in payload["strategies"].items()
            }
        except CursorError:
            raise
        except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError, ValueError) as exc:
            raise CursorError(f"unreadable signal cursor ({type(exc).__name__}: {exc})") from None
        return cls(marks)


def _mark_json(mark: StrategyMark) -> dict[str, object]:
    entry: dict[str, object] = {
        "report": mark.report_id,
        "through": format_time(mark.through) if mark.through else None,
    }
    if mark.at_through is not None:
        entry["at"] = sorted(mark.at_through)
    return entry


def _ids(value: object) -> frozenset[str]:
    if not isinstance(value, list):
        raise ValueError(f"expected a list of signal ids, got {value!r}")
    return frozenset(_text(item) for item in value)


def _text(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"expected a non-empty string, got {value!r}")
    return value


@dataclass(frozen=True)
class Poll:
    """One pass over Lona: the new signals, the cursor that follows them, what could not be read."""

    signals: pl.DataFrame
    cursor: SignalCursor
    reports_read: list[str]
    failures: dict[str, str]
    """Strategy id to the reason its newest report could not be read; retried next poll."""

    @property
    def signal_ids(self) -> list[str]:
        return sorted(self.signals["signal_id"].to_list())

    @property
    def batch_key(self) -> str:
        return batch_key(self.signal_ids)


def batch_key(signal_ids: list[str]) -> str:
    """``lona-signals-<hash>`` of the sorted ids: the same signals always name the same batch."""
    digest = hashlib.sha256(",".join(sorted(signal_ids)).encode()).hexdigest()[:20]
    return f"lona-signals-{digest}"


def signals_after(signals: pl.DataFrame, mark: StrategyMark | None) -> pl.DataFrame:
    """The signals not handed on yet: after the watermark, or at it and not among its ids."""
    if mark is None or mark.through is None:
        return signals
    later = pl.col("timestamp") > mark.through
    if mark.at_through is None:
        return signals.filter(later)
    at_mark = (pl.col("timestamp") == mark.through) & ~pl.col("signal_id").is_in(list(mark.at_through))
    return signals.filter(later | at_mark)


def advance(mark: StrategyMark | None, report_id: str, signals: pl.DataFrame) -> StrategyMark:
    """The mark after handing on ``signals`` from ``report_id``; the watermark never moves back."""
    previous = mark.through if mark is not None else None
    newest = signals["timestamp"].max() if signals.height else None
    if newest is None or (previous is not None and newest < previous):
        # Nothing new, or only late signals before the watermark (not expected from Lona).
        through, handed = previous, set()
    else:
        through = newest
        handed = set(signals.filter(pl.col("timestamp") == newest)["signal_id"].to_list())
    if mark is not None and through == previous and previous is not None:
        if mark.at_through is None:
            # A cursor from before ids were kept: everything at the watermark was handed on.
            return StrategyMark(report_id, through, None)
        handed |= mark.at_through
    return StrategyMark(report_id, through, frozenset(handed) if through is not None else None)


def poll(client: LonaClient, cursor: SignalCursor) -> Poll:
    """Read every strategy's newest completed report that the cursor has not seen.

    Listing the strategies must succeed (a ``LonaError`` propagates: nothing was read);
    after that, a strategy whose report cannot be read or parsed is recorded in ``failures``
    and keeps its mark, while the others move on.
    """
    strategies = client.list_strategies()
    marks = dict(cursor.marks)
    frames = [pl.DataFrame(schema=SIGNAL_SCHEMA)]
    reports_read: list[str] = []
    failures: dict[str, str] = {}
    for strategy in strategies:
        strategy_id = str(strategy.get("id", ""))
        if not strategy_id:
            failures["?"] = "a strategy without an id"
            continue
        mark = marks.get(strategy_id)
        try:
            report = client.latest_completed_report(strategy_id)
            if report is None or (mark is not None and report.get("id") == mark.report_id):
                continue
            full = client.get_full_report(_text(report.get("id")))
            signals = signals_from_report({**strategy, "id": strategy_id}, full)
        except (LonaError, ValueError) as exc:
            failures[strategy_id] = f"{type(exc).__name__}: {exc}"
            continue
        fresh = signals_after(signals, mark)
        frames.append(fresh)
        marks[strategy_id] = advance(mark, str(full["id"]), fresh)
        reports_read.append(str(full["id"]))
    new = (
        pl.concat(frames)
        .unique("signal_id", keep="first", maintain_order=True)
        .sort("timestamp", "signal_id")
    )
    return Poll(new, SignalCursor(marks), reports_read, failures)
