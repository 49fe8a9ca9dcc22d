"""The served decision path replayed bar by bar, with every ML part switched off in turn.

At the close of each decision bar (every ``rebalance_every`` bars, and every bar a signal
arrives), from what was known then: each symbol's standing signals (newest per strategy, no
older than ``standing_bars``) with the day's champions' views go through ``allocate`` (the
policy per signal, netting per symbol, the risk gate with per-symbol latches and the book's own
equity and high-water mark, the caps, the optimizer), exactly as the allocation asset calls it.
The weights are held over the next bar at ``cost_bps`` per unit of turnover; cash earns nothing.
A tripped drawdown breaker is reviewed: ``drawdown_review_bars`` later the replayed operator
resets the book's high-water mark, as an operator does through the risk API.

Rows of the report:
- ``policy``: all of it;
- ``meta_labeled``: the policy with each entry signal's strength times its meta-labeling bet
  size, the candidate beside the LSTM (``replay.meta``);
- ``no_predictor``, ``no_anomaly_gate``, ``no_optimizer``: one ML part off (a zero prediction,
  a zero anomaly score, the policy's weights taken as they are);
- ``volatility_targeted``: the same signals sized by the policy with no ML at all (the trailing
  21-bar close-to-close volatility instead of the forecaster, no predictor, no anomaly gate, no
  optimizer);
- ``raw``: every standing signal at full strength, equal weight per symbol (gross <= 1);
- ``equal_weight`` (1/N), ``inverse_volatility`` at the volatility target, ``buy_and_hold``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from nexus_assets.ml.anomaly.rule_config import RuleConfig
from nexus_assets.ml.features import FEATURE_COLUMNS, compute_features
from nexus_assets.ml.optimizer.limits import AllocationLimits
from nexus_assets.ml.portfolio.allocation import SymbolView, allocate
from nexus_assets.ml.portfolio.book import book_limits
from nexus_assets.ml.portfolio.covariance import shrunk_covariance
from nexus_assets.ml.portfolio.policy import Decision, PolicyConfig
from nexus_assets.ml.portfolio.risk_gate import RiskState
from nexus_assets.ml.replay.anomaly_scores import AnomalyScores
from nexus_assets.ml.replay.baselines import baseline_targets
from nexus_assets.ml.replay.champions import (
    ModelViews,
    Retrain,
    closes_only_rules,
    walk_forward_views,
)
from nexus_assets.ml.replay.config import ReplayConfig
from nexus_assets.ml.replay.meta import MetaSizes, meta_sizes
from nexus_assets.ml.replay.performance import performance
from nexus_assets.ml.replay.prices import ReplayBars
from nexus_assets.ml.replay.standing import Standing, cluster_periods, place_signals, sized

Progress = Callable[[int, int], None]
_RV = FEATURE_COLUMNS.index("rv_21")


@dataclass(frozen=True)
class Variant:
    """Which ML parts a policy row uses."""

    predictor: bool = True
    anomaly_gate: bool = True
    model_volatility: bool = True
    optimizer: bool = True
    meta_labels: bool = False
    """Each entry signal's strength times its meta-labeling bet size (``replay.meta``)."""


VARIANTS: dict[str, Variant] = {
    "policy": Variant(),
    "meta_labeled": Variant(meta_labels=True),
    "no_predictor": Variant(predictor=False),
    "no_anomaly_gate": Variant(anomaly_gate=False),
    "no_optimizer": Variant(optimizer=False),
    "volatility_targeted": Variant(False, False, False, False),
}
BASELINES: tuple[str, ...] = ("raw", "equal_weight", "inverse_volatility", "buy_and_hold")
ROWS: tuple[str, ...] = (*VARIANTS, *BASELINES)


@dataclass(frozen=True)
class Arrival:
    """The policy row's decision on a signal at the bar it arrived, and the book it was made for."""

    row: int
    signal: dict[str, Any]
    action: str
    target_weight: float
    current_weight: float
    equity: float
    peak_equity: float
    latched_before: bool
    """The symbol's anomaly latch was engaged before this decision."""
    scored_with_it: bool
    """The symbol's anomaly score at this bar was computed with this signal as the incoming one."""


@dataclass
class ReplayResult:
    symbols: list[str]
    timestamps: pl.Series
    """The bar of each row of ``weights``: every bar from the first decision on."""
    weights: np.ndarray
    """The policy's weights at each bar's close (targets on decision bars, drifted holdings between)."""
    returns: dict[str, np.ndarray]
    """Per row of the report, the net return over the bar after each bar but the last."""
    turnover: dict[str, np.ndarray]
    metrics: dict[str, dict[str, float]]
    actions: dict[str, dict[str, int]]
    """Per policy row: signal decisions by action."""
    reasons: dict[str, dict[str, int]]
    """Per policy row: signal decisions by reason code."""
    optimizer: dict[str, int]
    """The policy's optimizer outcomes by status."""
    drawdown_resets: dict[str, int]
    """Per policy row: high-water-mark resets after a tripped breaker's review."""
    meta: MetaSizes
    """The meta-labeling candidate's sizes, labels and fits."""
    retrains: list[Retrain]
    views: ModelViews
    """What the champions of each day said, and the champions themselves."""
    arrivals: list[Arrival]
    """The policy row's decision on every signal at the bar it arrived (the service's case)."""
    anomaly_scores: np.ndarray
    """[calendar, symbols] the anomaly score each decision used (NaN where none was needed)."""
    decision_bars: int
    closes_only: bool
    warnings: list[str] = field(default_factory=list)


@dataclass
class _Book:
    """One row's holdings and what its risk gate remembers."""

    held: np.ndarray
    equity: float = 1.0
    peak: float = 1.0
    latches: dict[str, RiskState] = field(default_factory=dict)
    tripped_at: int | None = None
    """Row at which the drawdown breaker tripped, until the review resets the mark."""
    resets: int = 0
    returns: list[float] = field(default_factory=list)
    turnover: list[float] = field(default_factory=list)
    actions: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)


def _drift(weights: np.ndarray, bar_returns: np.ndarray) -> tuple[np.ndarray, float]:
    growth = float(np.dot(weights, bar_returns))
    return weights * (1.0 + bar_returns) / (1.0 + growth), growth


def run_replay(
    data: ReplayBars,
    signals: pl.DataFrame,
    config: ReplayConfig | None = None,
    *,
    progress: Progress | None = None,
    log: Callable[[str], None] | None = None,
    views: ModelViews | None = None,
    rows: tuple[str, ...] = ROWS,
) -> ReplayResult:
    """Replay ``signals`` (``REPLAY_SIGNAL_SCHEMA``) on ``data`` through the served path and its ablations.

    ``views``: champions already fitted (the champion gate's held-out replay), which then speak
    from their first row on; otherwise they are retrained walk-forward from ``config.warmup``.
    ``rows``: the report's rows to replay (``policy`` always among them; the gate needs no other).
    """
    config = config or ReplayConfig()
    n_rows, n_symbols = data.close.shape
    unknown = sorted(set(rows) - set(ROWS))
    if "policy" not in rows or unknown:
        raise ValueError(f"rows: must hold 'policy' and only rows of {ROWS} (got {list(rows)})")
    variants = {name: variant for name, variant in VARIANTS.items() if name in rows}
    baselines = [name for name in BASELINES if name in rows]
    first = config.warmup if views is None else views.starts[0]
    if views is None:
        config.check_history(n_rows)
        rules = closes_only_rules(RuleConfig()) if data.closes_only else RuleConfig()
        features = compute_features(data.bars, signals)
        views = walk_forward_views(
            data.bars, features, data.calendar, data.symbols, first, config.retrain, rules=rules, progress=log
        )
    placed = place_signals(data, signals)
    starts = views.starts
    meta = meta_sizes(placed, data.close, views.features, data.symbols, starts, config.retrain.train_bars)
    clusters = cluster_periods(
        placed, data.symbols, n_rows, starts, config.retrain.train_bars, config.standing_bars
    )
    standing = Standing(placed, data.symbols, config.standing_bars, meta, clusters)
    anomaly = AnomalyScores(data, views, config.retrain.lstm.window)
    limits, policy = book_limits(
        max_weight=config.max_weight, max_gross=config.max_gross, max_turnover=config.max_turnover,
        cost_bps=config.cost_bps, holding_bars=config.holding_bars, target_volatility=config.target_volatility,
    )  # fmt: skip
    with np.errstate(invalid="ignore", divide="ignore"):
        log_returns = np.vstack([np.full(n_symbols, np.nan), np.diff(np.log(data.close), axis=0)])
    next_returns = np.nan_to_num(np.expm1(np.vstack([log_returns[1:], np.full(n_symbols, np.nan)])), nan=0.0)
    realized = views.features[:, :, _RV]
    books = {name: _Book(np.zeros(n_symbols)) for name in (*variants, *baselines)}
    optimizer: Counter[str] = Counter()
    arrivals: list[Arrival] = []
    weights: list[np.ndarray] = []
    decision_bars = 0
    for row in range(first):
        standing.advance(row)
    for step, row in enumerate(range(first, n_rows)):
        arrived = standing.advance(row)
        priced = np.isfinite(data.close[row])
        held_unpriced = any((~priced & (book.held != 0)).any() for book in books.values())
        targets = {name: book.held.copy() for name, book in books.items()}
        if step % config.rebalance_every == 0 or arrived or held_unpriced:
            decision_bars += 1
            signals_at = [standing.at(i, row) for i in range(n_symbols)]
            window = log_returns[max(row - config.covariance_window + 1, 1) : row + 1]
            known = priced & np.isfinite(views.predicted[row]) & np.isfinite(views.volatility[row])
            known &= np.isfinite(views.features[row]).all(axis=1)
            moment = _Moment(row, signals_at, known, window, {})
            for name, variant in variants.items():
                targets[name] = _policy_targets(
                    moment,
                    variant,
                    books[name],
                    views,
                    anomaly,
                    standing.arrived,
                    realized,
                    data.symbols,
                    policy,
                    limits,
                    optimizer if name == "policy" else None,
                    arrivals if name == "policy" else None,
                )
            if baselines:
                held = books["buy_and_hold"].held if "buy_and_hold" in books else np.zeros(n_symbols)
                computed = baseline_targets(row, step, priced, signals_at, realized, window, held, config)
                targets.update({name: computed[name] for name in baselines})
        weights.append(targets["policy"])
        if progress is not None:
            progress(step + 1, n_rows - first)
        if row == n_rows - 1:
            break
        for name, book in books.items():
            traded = float(np.abs(targets[name] - book.held).sum())
            book.held, growth = _drift(targets[name], next_returns[row])
            net = growth - config.cost_bps / 1e4 * traded
            book.returns.append(net)
            book.turnover.append(traded)
            book.equity *= 1.0 + net
            book.peak = max(book.peak, book.equity)
            _review(book, row, policy.risk.drawdown_limit, config.drawdown_review_bars)
    returns = {name: np.array(book.returns) for name, book in books.items()}
    turnover = {name: np.array(book.turnover) for name, book in books.items()}
    return ReplayResult(
        symbols=list(data.symbols),
        timestamps=data.calendar.slice(first),
        weights=np.array(weights),
        returns=returns,
        turnover=turnover,
        metrics={name: performance(returns[name], turnover[name]) for name in books},
        actions={name: dict(books[name].actions) for name in variants},
        reasons={name: dict(books[name].reasons) for name in variants},
        optimizer=dict(optimizer),
        drawdown_resets={name: books[name].resets for name in variants},
        meta=meta,
        retrains=views.retrains,
        views=views,
        arrivals=arrivals,
        anomaly_scores=anomaly.scores,
        decision_bars=decision_bars,
        closes_only=data.closes_only,
        warnings=_warnings(data, signals),
    )


@dataclass
class _Moment:
    """What every policy row shares at one decision bar."""

    row: int
    signals_at: list[tuple[dict[str, Any], ...]]
    known: np.ndarray
    """Symbols priced with every model's view."""
    window: np.ndarray
    covariance: dict[bool, np.ndarray]
    """Per volatility source (model or realized), computed once for the bar."""


def _policy_targets(
    moment: _Moment,
    variant: Variant,
    book: _Book,
    views: ModelViews,
    anomaly: AnomalyScores,
    arrived: dict[int, dict[str, Any]],
    realized: np.ndarray,
    symbols: list[str],
    policy: PolicyConfig,
    limits: AllocationLimits,
    optimizer: Counter[str] | None,
    arrivals: list[Arrival] | None = None,
) -> np.ndarray:
    """One policy row's target weights at a decision bar: ``allocate`` on its views and its book."""
    row = moment.row
    vol = views.volatility[row] if variant.model_volatility else realized[row]
    tradable = moment.known & (vol > 0)
    idx = np.flatnonzero(tradable)
    target = np.zeros(len(symbols))
    if not idx.size:
        return target
    if variant.optimizer and variant.model_volatility not in moment.covariance:
        moment.covariance[variant.model_volatility] = shrunk_covariance(
            moment.window[:, tradable], vol[tradable]
        )
    symbol_views = []
    for i in idx:
        standing = moment.signals_at[i]
        carried = sized(standing) if variant.meta_labels else standing
        symbol_views.append(
            SymbolView(
                symbol=symbols[i],
                predicted_return=float(views.predicted[row, i]) if variant.predictor else 0.0,
                volatility=float(vol[i]),
                anomaly_score=anomaly.score(row, i, arrived.get(i))
                if variant.anomaly_gate and standing
                else 0.0,
                current_weight=float(book.held[i]),
                signal=carried[-1] if carried else None,
                signals=carried,
            )
        )
    latched = dict(book.latches)
    outcome = allocate(
        symbol_views,
        moment.covariance.get(variant.model_volatility, np.eye(idx.size)),
        policy=policy,
        limits=limits,
        latches=book.latches,
        equity=book.equity,
        peak_equity=book.peak,
        use_optimizer=variant.optimizer,
    )
    target[idx] = outcome.target_weights
    book.latches.update(outcome.states)
    for decision in outcome.signal_decisions:
        book.actions[decision.action.value] += 1
        book.reasons.update(decision.reason_codes)
    if optimizer is not None:
        optimizer[outcome.optimizer_status] += 1
    if arrivals is not None:
        _record_arrivals(arrivals, row, symbol_views, outcome.signal_decisions, latched, book, arrived)
    return target


def _record_arrivals(
    arrivals: list[Arrival],
    row: int,
    symbol_views: list[SymbolView],
    decisions: tuple[Decision, ...],
    latched: dict[str, RiskState],
    book: _Book,
    arrived: dict[int, dict[str, Any]],
) -> None:
    """Pair ``allocate``'s decisions (views order, then standing order) with their signals."""
    decided = iter(decisions)
    incoming = {s["symbol"]: s for s in arrived.values()}
    for view in symbol_views:
        state = latched.get(view.symbol, RiskState())
        for signal in view.standing():
            decision = next(decided)
            if signal["row"] == row:
                scored = incoming.get(view.symbol)
                arrivals.append(
                    Arrival(
                        row, dict(signal), decision.action.value, decision.target_weight, view.current_weight,
                        book.equity, book.peak, state.anomaly_halted,
                        scored is not None and scored["strategy_id"] == signal["strategy_id"],
                    )
                )  # fmt: skip
            state = decision.state


def _review(book: _Book, row: int, limit: float, review_bars: int) -> None:
    """The operator's review of a tripped breaker: ``review_bars`` later, a new high-water mark."""
    if book.tripped_at is None:
        if book.equity <= book.peak * (1.0 - limit):
            book.tripped_at = row
    elif row - book.tripped_at >= review_bars:
        book.peak, book.tripped_at = book.equity, None
        book.resets += 1


def _warnings(data: ReplayBars, signals: pl.DataFrame) -> list[str]:
    notes = []
    if data.closes_only:
        notes.append(
            "closes only: range-based inputs (Parkinson, Garman-Klass, high-low range) use "
            "close-to-close estimators and the zero-volume anomaly rule is off"
        )
    if signals.is_empty():
        notes.append("no signals: every policy row stays in cash")
    return notes
