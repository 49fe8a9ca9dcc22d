"""Which Lona signals are new since the last poll, and the name of a batch of them.

Lona pushes nothing, so a poller reads each strategy's newest completed report and keeps a
cursor: per strategy, the report it read last and the time of the newest signal it handed on
(its *watermark*). A report spans every bar revealed so far and a bar's trade events all
appear in the first report that covers it, so the signals of a newer report that are new are
exactly those after the watermark. The cursor moves only for strategies whose report was read
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


@dataclass(frozen=True)
class SignalCursor:
    marks: Mapping[str, StrategyMark] = field(default_factory=dict)

    def to_json(self) -> str:
        """Compact JSON: ``{"v": 1, "strategies": {id: {"report": id, "through": time|null}}}``."""
        strategies = {
            sid: {"report": mark.report_id, "through": format_time(mark.through) if mark.through else None}
            for sid, mark in sorted(self.marks.items())
        }
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
                )
                for sid, entry in payload["strategies"].items()
            }
        except CursorError:
            raise
        except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError, ValueError) as exc:
            raise CursorError(f"unreadable signal cursor ({type(exc).__name__}: {exc})") from None
        return cls(marks)


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
    """The signals newer than the mark's watermark (all of them without a mark)."""
    if mark is None or mark.through is None:
        return signals
    return signals.filter(pl.col("timestamp") > mark.through)


def advance(mark: StrategyMark | None, report_id: str, signals: pl.DataFrame) -> StrategyMark:
    """The mark after handing on ``signals`` from ``report_id``; the watermark never moves back."""
    newest = signals["timestamp"].max() if signals.height else None
    previous = mark.through if mark is not None else None
    candidates = [t for t in (previous, newest) if t is not None]
    return StrategyMark(report_id=report_id, through=max(candidates) if candidates else None)


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
