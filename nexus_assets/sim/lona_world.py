"""The state behind the Lona stand-in: a market revealed bar by bar, strategies, reports.

Everything is derived from the seed and the number of ticks, so two stand-ins started alike
and ticked alike serve the same strategies, bars, trades and statistics (ids included); only
``created_at`` stamps follow the wall clock. Each tick reveals the next bar and completes a
report for the next strategy in turn, which is how new trades and exits appear over time.
Those reports span everything revealed, with ``start_date``/``end_date`` as the first and last
bar's ISO time; runner reports keep the dates they were asked for.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import polars as pl

from nexus_assets.clock import now_utc
from nexus_assets.lona.wire import format_time, parse_bound
from nexus_assets.ml.bars import BarsValidationError
from nexus_assets.sim.lona_backtest import SimulationParameters, run_backtest
from nexus_assets.sim.lona_records import REPORT_STATUSES, Report, SymbolRecord, WorldError
from nexus_assets.sim.market import (
    DEFAULT_SYMBOLS,
    MarketSimConfig,
    latest_close,
    simulate_market,
    start_for_end,
)
from nexus_assets.sim.strategies import (
    TEMPLATES,
    StrategySpec,
    build_strategy,
    generate_strategies,
    stable_id,
)


@dataclass(frozen=True)
class WorldConfig:
    seed: int = 7
    symbols: tuple[str, ...] = DEFAULT_SYMBOLS
    n_strategies: int = 12
    initial_bars: int = 1260
    """Matches the simulator source's default, so both serve the same bars at start-up."""
    horizon_bars: int = 1260 + 1260
    last_close: datetime | None = None
    """Close time of the last bar revealed at start-up; default: the newest finished close."""
    reports_kept_per_strategy: int = 20
    """Older finished reports are forgotten (404), as a long-running gateway would archive them."""
    run_step_s: float = 0.1
    """Pause between a run's status changes, so clients can watch it progress."""

    def __post_init__(self) -> None:
        if self.reports_kept_per_strategy < 1:
            raise ValueError("reports_kept_per_strategy: at least one report must be kept")
        if self.n_strategies < 1:
            raise ValueError("n_strategies: at least one strategy is required")
        if not 2 <= self.initial_bars <= self.horizon_bars:
            raise ValueError("initial_bars: must be at least 2 and at most horizon_bars")


@dataclass
class _State:
    revealed: int
    ticks: int = 0
    next_strategy: int = 0
    report_seq: int = 0
    last_created: datetime | None = None
    strategies: dict[str, StrategySpec] = field(default_factory=dict)
    symbols: dict[str, SymbolRecord] = field(default_factory=dict)
    reports: dict[str, Report] = field(default_factory=dict)


class LonaWorld:
    """Thread-safe: the HTTP handlers, the ticker and run workers share one instance."""

    def __init__(self, config: WorldConfig | None = None, clock: Callable[[], datetime] = now_utc) -> None:
        self.config = config or WorldConfig()
        self._clock = clock
        self._lock = threading.RLock()
        started = clock()
        last_close = self.config.last_close or latest_close(started)
        self.start = start_for_end(last_close, self.config.initial_bars)
        market = simulate_market(
            MarketSimConfig(
                symbols=self.config.symbols,
                n_bars=self.config.horizon_bars,
                seed=self.config.seed,
                start=self.start,
            )
        )
        self._state = _State(revealed=self.config.initial_bars)
        for (name,), bars in market.group_by("symbol", maintain_order=True):
            record = SymbolRecord(
                id=stable_id("lona-stand-in", "symbol", name),
                name=str(name),
                bars=bars,
                frequency="1d",
                created_at=started,
                progressive=True,
            )
            self._state.symbols[record.id] = record
        for spec in generate_strategies(
            self.config.seed, self.config.symbols, self.config.n_strategies, started
        ):
            self._state.strategies[spec.id] = spec
        for spec in list(self._state.strategies.values()):
            self._complete_now(spec)

    # helpers ---------------------------------------------------------------------------

    def _visible(self, record: SymbolRecord) -> pl.DataFrame:
        return record.bars.head(self._state.revealed) if record.progressive else record.bars

    def _symbol_by_name(self, name: str) -> SymbolRecord | None:
        return next((s for s in self._state.symbols.values() if s.name == name), None)

    def _new_report(
        self,
        strategy_id: str,
        data_ids: list[str],
        start: str,
        end: str,
        simulation: SimulationParameters,
    ) -> Report:
        created = self._clock()
        last = self._state.last_created
        if last is not None and created <= last:
            created = last + timedelta(microseconds=1)
        self._state.last_created = created
        self._state.report_seq += 1
        report = Report(
            id=stable_id("lona-stand-in", self.config.seed, "report", self._state.report_seq),
            strategy_id=strategy_id,
            data_ids=data_ids,
            created_at=created,
            start=start,
            end=end,
            simulation=simulation,
        )
        self._state.reports[report.id] = report
        return report

    def _complete_now(self, spec: StrategySpec) -> Report:
        """A COMPLETED report of ``spec`` over everything revealed so far."""
        records = [s for s in (self._symbol_by_name(n) for n in spec.symbols) if s is not None]
        bars = {r.name: self._visible(r) for r in records}
        first = min(b["timestamp"][0] for b in bars.values())
        last = max(b["timestamp"][-1] for b in bars.values())
        report = self._new_report(
            spec.id,
            [r.id for r in records],
            format_time(first),
            format_time(last),
            SimulationParameters(),
        )
        report.result = run_backtest(
            spec.id,
            spec.template,
            spec.params,
            bars,
            first,
            last + timedelta(microseconds=1),
            report.simulation,
        )
        report.status, report.progress, report.completed_at = "COMPLETED", 1.0, report.created_at
        return report

    def _strategy(self, strategy_id: str) -> StrategySpec:
        spec = self._state.strategies.get(strategy_id)
        if spec is None:
            raise WorldError(404, "not_found", f"strategy {strategy_id!r} not found")
        return spec

    def _report(self, report_id: str) -> Report:
        report = self._state.reports.get(report_id)
        if report is None:
            raise WorldError(404, "not_found", f"report {report_id!r} not found")
        return report

    def _symbol(self, symbol_id: str) -> SymbolRecord:
        record = self._state.symbols.get(symbol_id)
        if record is None:
            raise WorldError(404, "not_found", f"symbol {symbol_id!r} not found")
        return record

    # clock -----------------------------------------------------------------------------

    def tick(self) -> dict[str, Any]:
        """Reveal the next bar (until the horizon) and complete the next strategy's report."""
        with self._lock:
            state = self._state
            if state.revealed < self.config.horizon_bars:
                state.revealed += 1
            state.ticks += 1
            specs = list(state.strategies.values())
            spec = specs[state.next_strategy % len(specs)]
            state.next_strategy += 1
            report = self._complete_now(spec)
            self._prune_reports(spec.id)
            return {**self.state(), "report_id": report.id, "strategy_id": spec.id}

    def _prune_reports(self, strategy_id: str) -> None:
        """Keep the newest finished reports of a strategy, so a long-running stand-in stays small."""
        finished = [
            r for r in self._state.reports.values()
            if r.strategy_id == strategy_id and r.status in ("COMPLETED", "FAILED")
        ]  # fmt: skip
        finished.sort(key=lambda r: r.created_at)
        for stale in finished[: -self.config.reports_kept_per_strategy]:
            del self._state.reports[stale.id]

    def state(self) -> dict[str, Any]:
        with self._lock:
            first = next(iter(self._state.symbols.values()))
            visible = self._visible(first)
            return {
                "seed": self.config.seed,
                "start": self.start.isoformat(),
                "ticks": self._state.ticks,
                "revealed_bars": self._state.revealed,
                "horizon_bars": self.config.horizon_bars,
                "last_bar": format_time(visible["timestamp"][-1]),
                "strategies": len(self._state.strategies),
                "reports": len(self._state.reports),
            }

    # strategies ------------------------------------------------------------------------

    def list_strategies(self) -> list[dict[str, Any]]:
        with self._lock:
            return [s.to_json() for s in self._state.strategies.values()]

    def get_strategy(self, strategy_id: str) -> dict[str, Any]:
        with self._lock:
            return self._strategy(strategy_id).to_json()

    def create_strategy(
        self,
        name: str,
        description: str,
        code: str | None,
        template: str,
        parameters: Mapping[str, Any],
        symbols: list[str] | None,
        *,
        version: str = "1.0.0",
    ) -> dict[str, Any]:
        """A user strategy; it runs its ``template`` whatever ``code`` says."""
        if template not in TEMPLATES:
            known = ", ".join(TEMPLATES)
            raise WorldError(422, "validation_error", f"template: must be one of {known}")
        with self._lock:
            chosen = tuple(symbols or self.config.symbols[:1])
            unknown = [s for s in chosen if self._symbol_by_name(s) is None]
            if unknown:
                raise WorldError(422, "validation_error", f"symbols: unknown {', '.join(unknown)}")
            index = len(self._state.strategies)
            try:
                spec = build_strategy(
                    stable_id("lona-stand-in", self.config.seed, "user-strategy", index, name),
                    template,
                    parameters,
                    chosen,
                    self._clock(),
                    name=name,
                    description=description or None,
                    code=code,
                    version=version,
                )
            except ValueError as exc:
                raise WorldError(422, "validation_error", str(exc)) from exc
            self._state.strategies[spec.id] = spec
            return spec.to_json()

    # symbols ---------------------------------------------------------------------------

    def _symbol_json(self, record: SymbolRecord) -> dict[str, Any]:
        visible = self._visible(record)
        return {
            "id": record.id,
            "name": record.name,
            "data_range": {
                "start": format_time(visible["timestamp"][0]),
                "end": format_time(visible["timestamp"][-1]),
            },
            "frequencies": [record.frequency],
            "bars": visible.height,
            "created_at": format_time(record.created_at),
        }

    def list_symbols(self) -> list[dict[str, Any]]:
        with self._lock:
            return [self._symbol_json(r) for r in self._state.symbols.values()]

    def get_symbol(self, symbol_id: str) -> dict[str, Any]:
        with self._lock:
            return self._symbol_json(self._symbol(symbol_id))

    def symbol_bars(
        self, symbol_id: str, start: str | None, end: str | None
    ) -> tuple[SymbolRecord, pl.DataFrame]:
        """The revealed bars of a symbol inside the optional bounds (dates cover whole days)."""
        try:
            low = parse_bound(start, end=False) if start else None
            high = parse_bound(end, end=True) if end else None
        except ValueError as exc:
            raise WorldError(422, "validation_error", f"start_date/end_date: {exc}") from exc
        with self._lock:
            record = self._symbol(symbol_id)
            bars = self._visible(record)
        if low is not None:
            bars = bars.filter(pl.col("timestamp") >= low)
        if high is not None:
            bars = bars.filter(pl.col("timestamp") < high)
        return record, bars

    def add_symbol(self, name: str, frequency: str, bars: pl.DataFrame) -> dict[str, Any]:
        with self._lock:
            if self._symbol_by_name(name) is not None:
                raise WorldError(409, "conflict", f"symbol {name!r} already exists")
            record = SymbolRecord(
                id=stable_id("lona-stand-in", "upload", name),
                name=name,
                bars=bars,
                frequency=frequency,
                created_at=self._clock(),
                progressive=False,
            )
            self._state.symbols[record.id] = record
            return self._symbol_json(record)

    # runner and reports ----------------------------------------------------------------

    def submit_run(
        self,
        strategy_id: str,
        data_ids: list[str],
        start_date: str,
        end_date: str,
        simulation_parameters: Mapping[str, Any] | None,
    ) -> str:
        """Accept a run and execute it in the background, as Lona does."""
        try:
            start = parse_bound(start_date, end=False)
            end = parse_bound(end_date, end=True)
            simulation = SimulationParameters.from_json(simulation_parameters)
        except (ValueError, TypeError) as exc:
            raise WorldError(422, "validation_error", str(exc)) from exc
        if end <= start:
            raise WorldError(422, "validation_error", "end_date: must not be before start_date")
        if not data_ids:
            raise WorldError(422, "validation_error", "data_ids: at least one data id is required")
        with self._lock:
            spec = self._strategy(strategy_id)
            report = self._new_report(spec.id, list(data_ids), start_date, end_date, simulation)
        worker = threading.Thread(
            target=self._execute,
            args=(report, spec, start, end),
            name=f"lona-run-{report.id[:8]}",
            daemon=True,
        )
        worker.start()
        return report.id

    def _set(self, report: Report, status: str, progress: float, error: str | None = None) -> None:
        with self._lock:
            report.status, report.progress, report.error = status, progress, error
            if status in ("COMPLETED", "FAILED"):
                report.completed_at = self._clock()

    def _execute(self, report: Report, spec: StrategySpec, start: datetime, end: datetime) -> None:
        step = self.config.run_step_s
        time.sleep(step)
        self._set(report, "EXECUTING", 0.25)
        with self._lock:
            missing = [d for d in report.data_ids if d not in self._state.symbols]
            records = [self._state.symbols[d] for d in report.data_ids if d not in missing]
            bars = {r.name: self._visible(r) for r in records}
        if missing:
            self._set(report, "FAILED", 1.0, f"unknown data id(s): {', '.join(missing)}")
            return
        try:
            result = run_backtest(spec.id, spec.template, spec.params, bars, start, end, report.simulation)
        except (ValueError, BarsValidationError) as exc:
            self._set(report, "FAILED", 1.0, str(exc))
            return
        time.sleep(step)
        self._set(report, "PROCESSING", 0.75)
        time.sleep(step)
        with self._lock:
            report.result = result
        self._set(report, "COMPLETED", 1.0)

    def list_reports(self, strategy_id: str | None, status: str | None) -> list[dict[str, Any]]:
        """Newest first."""
        if status is not None and status not in REPORT_STATUSES:
            raise WorldError(422, "validation_error", f"status: must be one of {', '.join(REPORT_STATUSES)}")
        with self._lock:
            reports = [
                r
                for r in reversed(self._state.reports.values())
                if (strategy_id is None or r.strategy_id == strategy_id)
                and (status is None or r.status == status)
            ]
            return [r.summary() for r in reports]

    def report_status(self, report_id: str) -> dict[str, Any]:
        """Status and progress only: like Lona, a failure's reason is in the report itself."""
        with self._lock:
            report = self._report(report_id)
            return {"id": report.id, "status": report.status, "progress": report.progress}

    def report_summary(self, report_id: str) -> dict[str, Any]:
        with self._lock:
            return self._report(report_id).summary()

    def full_report(self, report_id: str) -> dict[str, Any]:
        with self._lock:
            report = self._report(report_id)
            if report.status != "COMPLETED" or report.result is None:
                raise WorldError(409, "report_not_ready", f"report {report_id!r} is {report.status}")
            summary, result = report.summary(), report.result
        return {
            **summary,
            "trades": [dict(t) for t in result.trades],
            "backtest_timeline": result.timeline_json(),
        }
