"""Shadow scoring: the challengers score every decision beside the champions, off the response path.

A decision whose bundle holds challengers hands a ``ShadowJob`` here once its audit row is
stored; a worker thread scores the jobs in batches (``model_views`` on the shadow set, then the
policy with the challengers' numbers in the champions' place, same inputs otherwise) and
writes them to ``decision_shadow`` through a connection of its own. The queue is bounded and a
full one drops the job (counted) rather than slow a decision; a failure to score or to store is
logged and counted and touches neither a response nor the champion's audit row.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import numpy as np
import orjson

from nexus_assets.ml.portfolio.policy import PolicyConfig, SignalContext, decide
from nexus_assets.ml.portfolio.risk_gate import RiskState
from nexus_assets.ml.registry.names import PREDICTOR_MODEL, VOLATILITY_MODEL
from nexus_serving.audit.shadow_table import ShadowRow
from nexus_serving.audit.sinks import AuditSink
from nexus_serving.decisions.model_views import ModelInputs, ModelView, model_views
from nexus_serving.decisions.request_bars import InvalidInputError, RequestBars, required_bars
from nexus_serving.metrics import ServiceMetrics
from nexus_serving.model_store import ModelBundle
from nexus_serving.schemas import DecisionRequest

logger = logging.getLogger(__name__)

BATCH_SIZE = 256
"""Jobs scored and stored together: the predictor runs once on all of them."""
BATCH_WAIT_S = 0.25
"""How long the worker gathers jobs after the first before scoring them. Shadow scores wait for
nobody, and each batch pays one predictor call and one commit: scored as they came (batches of
one to four at concurrency 8) they cost a fifth more CPU per decision than gathered."""
LOG_INTERVAL_S = 10.0
"""At most one warning per kind and interval, so a failing store cannot flood the log."""


@dataclass(frozen=True, slots=True)
class ShadowJob:
    """One stored decision to score with its bundle's challengers."""

    decision_id: str
    decided_at: datetime
    request: DecisionRequest
    bars: RequestBars
    bundle: ModelBundle
    context: SignalContext
    """What the policy was given for the champion decision."""
    latch: RiskState
    inputs: ModelInputs | None = None
    """The champions' inputs: a predictor or volatility challenger scores them as they are."""


class ShadowScorer:
    """A bounded queue and the one thread that scores and stores what it holds."""

    def __init__(
        self,
        open_sink: Callable[[], AuditSink],
        policy: PolicyConfig,
        metrics: ServiceMetrics,
        capacity: int = 10_000,
    ) -> None:
        self._open_sink = open_sink
        self._sink: AuditSink | None = None
        self._policy = policy
        self._metrics = metrics
        self._queue: queue.Queue[ShadowJob] = queue.Queue(maxsize=capacity)
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._run, name="shadow-scorer", daemon=True)
        self._shadows: tuple[ModelBundle | None, ModelBundle | None] = (None, None)
        """The last bundle and its shadow bundle: built once per swap."""
        self._last_log: dict[str, float] = {}

    def start(self) -> None:
        self._thread.start()

    def submit(self, job: ShadowJob) -> None:
        """Queue ``job`` without blocking; a full queue (or a closed scorer) drops it, counted."""
        if not self._closing.is_set():
            try:
                self._queue.put_nowait(job)
                return
            except queue.Full:
                pass
        self._metrics.shadow_dropped.inc()
        self._warn("dropped", "shadow scoring queue full: challenger scores dropped (%d waiting)", self.depth)

    @property
    def depth(self) -> int:
        return self._queue.qsize()

    def close(self, timeout_s: float = 5.0) -> None:
        """Score what is queued within ``timeout_s``, then stop; what is left is dropped."""
        self._closing.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        if self._sink is not None and not self._thread.is_alive():
            self._sink.close()

    def _run(self) -> None:
        while True:
            batch = self._take()
            if batch:
                self.score(batch)
            elif self._closing.is_set():
                return

    def _take(self) -> list[ShadowJob]:
        """The next batch: the first job, then what arrives within ``BATCH_WAIT_S`` (none while closing)."""
        try:
            batch = [self._queue.get(timeout=0.25)]
        except queue.Empty:
            return []
        deadline = time.monotonic() + BATCH_WAIT_S
        while len(batch) < BATCH_SIZE:
            wait = 0.0 if self._closing.is_set() else deadline - time.monotonic()
            try:
                batch.append(self._queue.get(timeout=wait) if wait > 0 else self._queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def score(self, jobs: Sequence[ShadowJob]) -> None:
        """Score and store ``jobs``; never raises (failures are counted and logged)."""
        try:
            rows = self._rows(jobs)
        except Exception:
            self._metrics.shadow_failed.labels("score").inc(len(jobs))
            logger.exception("shadow scoring of %d decisions failed", len(jobs))
            return
        try:
            if self._sink is None:
                self._sink = self._open_sink()
            self._sink.write_shadow(rows)
        except Exception as exc:
            self._metrics.shadow_failed.labels("store").inc(len(rows))
            self._warn("store", "challenger scores of %d decisions not stored: %s", len(rows), exc)
            return
        self._metrics.shadow_scored.inc(len(rows))

    def _rows(self, jobs: Sequence[ShadowJob]) -> list[ShadowRow]:
        rows: list[ShadowRow] = []
        start = 0
        while start < len(jobs):  # one model_views call per bundle: a swap may split the batch
            end = start
            while end < len(jobs) and jobs[end].bundle is jobs[start].bundle:
                end += 1
            rows += self._rows_of(jobs[start:end])
            start = end
        return rows

    def _rows_of(self, jobs: Sequence[ShadowJob]) -> list[ShadowRow]:
        """Rows of jobs sharing one bundle; a job its challengers cannot score gets its error."""
        shadow = self._shadow_of(jobs[0].bundle)
        if shadow is None:
            return []
        need = required_bars(shadow.window)
        results: list[ModelView | Exception | None] = [None] * len(jobs)
        scorable = []
        for index, job in enumerate(jobs):
            if job.bars.height < need:
                results[index] = InvalidInputError(
                    ("body", "bars"), f"the challengers need {need} bars, the request has {job.bars.height}"
                )
            else:
                scorable.append(index)
        for index, view in zip(scorable, self._views(shadow, [jobs[i] for i in scorable]), strict=True):
            results[index] = view
        versions = orjson.dumps(shadow.champions.versions).decode()
        challengers = orjson.dumps({n: i.version for n, i in jobs[0].bundle.challengers.items()}).decode()
        scored_at = datetime.now(UTC)
        rows: list[ShadowRow] = []
        for job, result in zip(jobs, results, strict=True):
            rows.append(self._row(job, result, versions, challengers, scored_at))
        return rows

    def _views(self, shadow: ModelBundle, jobs: Sequence[ShadowJob]) -> list[ModelView | Exception]:
        """Each job's view, all in one call; should that fail as a whole, one by one."""
        if not jobs:
            return []
        reused = _reused_views(shadow, jobs)
        if reused is not None:
            return reused
        items = [(job.request, job.bars) for job in jobs]
        now = jobs[0].decided_at
        try:
            return list(model_views(shadow, items, now))
        except Exception:
            views: list[ModelView | Exception] = []
            for job, item in zip(jobs, items, strict=True):
                try:
                    views += model_views(shadow, [item], job.decided_at)
                except Exception as exc:
                    views.append(exc)
            return views

    def _row(
        self,
        job: ShadowJob,
        result: ModelView | Exception | None,
        versions: str,
        challengers: str,
        scored_at: datetime,
    ) -> ShadowRow:
        head = (job.decision_id, job.decided_at, scored_at, versions, challengers)
        if isinstance(result, ModelView):
            try:
                context = replace(
                    job.context,
                    predicted_return=result.predicted_return,
                    volatility=result.volatility,
                    anomaly_score=result.anomaly_score,
                )
                decision = decide(context, self._policy, job.latch)
                return (
                    *head, result.predicted_return, result.volatility, result.anomaly_score,
                    decision.action.value, decision.target_weight, None,
                )  # fmt: skip
            except Exception as exc:
                result = exc
        self._metrics.shadow_failed.labels("score").inc()
        reason = (
            result.message if isinstance(result, InvalidInputError) else f"{type(result).__name__}: {result}"
        )
        self._warn("score", "challengers could not score decision %s: %s", job.decision_id, reason)
        return (*head, None, None, None, None, None, reason)

    def _shadow_of(self, bundle: ModelBundle) -> ModelBundle | None:
        last, shadow = self._shadows
        if last is not bundle:
            shadow = bundle.shadow_bundle()
            self._shadows = (bundle, shadow)
        return shadow

    def _warn(self, kind: str, message: str, *args: object) -> None:
        now = time.monotonic()
        if now - self._last_log.get(kind, -LOG_INTERVAL_S) >= LOG_INTERVAL_S:
            self._last_log[kind] = now
            logger.warning(message, *args)


def _reused_views(shadow: ModelBundle, jobs: Sequence[ShadowJob]) -> list[ModelView | Exception] | None:
    """The views of the challengers from the champions' own inputs, or None when they cannot be
    reused (a predictor window of another length, inputs not kept).

    The features are the champions' (the same shared code on the same bars), so only the
    challenged models run: the predictor once on the stacked windows, the volatility model once
    on the stacked inputs, the anomaly detector per decision on the newest features and its own
    bar window. Every model not challenged keeps the champion's number. Computing the features
    again cost as much as the decision itself (measured: +94% CPU per decision at concurrency 8
    with all three challenged).
    """
    challenged = set(jobs[0].bundle.challengers)
    champions = jobs[0].bundle.champions
    if shadow.window != champions.window:
        return None
    if any(job.inputs is None for job in jobs):
        return None
    inputs = [job.inputs for job in jobs]
    predicted = [job.context.predicted_return for job in jobs]
    volatility = [job.context.volatility for job in jobs]
    if PREDICTOR_MODEL in challenged:
        x = np.concatenate([i.x for i in inputs], axis=0)
        predicted = [float(v) for v in shadow.champions.predictor.predict(x)]
    if VOLATILITY_MODEL in challenged:
        stacked = {
            name: np.concatenate([i.volatility[name] for i in inputs]) for name in inputs[0].volatility
        }
        with np.errstate(over="ignore", invalid="ignore"):
            variance = shadow.champions.volatility.forecast_arrays(stacked)
        volatility = [math.sqrt(v) if math.isfinite(v) and v > 0 else math.nan for v in map(float, variance)]
    views: list[ModelView | Exception] = []
    for job, ret, vol in zip(jobs, predicted, volatility, strict=True):
        if not (math.isfinite(ret) and math.isfinite(vol) and vol > 0):
            views.append(
                InvalidInputError(("body", "bars"), "the models give no finite forecast for these bars")
            )
        else:
            views.append(ModelView(ret, vol, job.context.anomaly_score, (), ""))
    return views
