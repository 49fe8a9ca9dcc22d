"""From what the models say about a request to the policy's decision and the v1 response.

``policy.decide`` is the one policy of the backtest, the allocation and serving; here it is fed
the request's portfolio, the news inputs and the shared risk state (``risk.held``).
"""

from __future__ import annotations

import functools
import math
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from nexus_assets.ml.portfolio.policy import PolicyConfig, SignalContext, decide
from nexus_assets.ml.portfolio.risk_gate import ReasonCode, RiskState
from nexus_assets.risk_store import RiskMove
from nexus_serving.decisions.model_views import ModelInputs, ModelView
from nexus_serving.decisions.request_bars import InvalidInputError, RequestBars
from nexus_serving.model_store import ModelBundle, ModelInfo
from nexus_serving.news_context import NO_NEWS, NewsInputs
from nexus_serving.risk.held import RiskPass
from nexus_serving.schemas import DecisionRequest, DecisionResponse, Portfolio


@dataclass(frozen=True)
class EngineConfig:
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    max_model_age_days: float = 30.0
    kill_switch: bool = False
    max_bar_age: timedelta | None = None
    """Refuse requests whose newest bar is older (``request_bars.check_fresh``); None: no limit."""


@dataclass(frozen=True)
class Outcome:
    """A decision and what the audit log needs besides the response."""

    response: DecisionResponse
    features_hash: str
    move: RiskMove | None
    """What the decision changes in the shared risk state (None: nothing), staged once the
    response is made."""
    context: SignalContext | None = None
    """What the policy was given, so a challenger's numbers can be put in its place (shadow)."""
    latch: RiskState | None = None
    """The symbol's latch the policy read."""
    inputs: ModelInputs | None = None
    """The models' inputs, for a challenger to score without recomputing them (shadow)."""


def stale_reasons(bundle: ModelBundle, now: datetime, max_age_days: float) -> list[str]:
    reasons = []
    for info in bundle.info.values():
        age = info.age_days(now)
        if age > max_age_days:
            reasons.append(_stale_reason(info, f"{age:.0f}", max_age_days))
    return reasons


@functools.lru_cache(maxsize=256)
def _stale_reason(info: ModelInfo, age_days: str, max_age_days: float) -> str:
    """Formatted once per model and whole day of age: a stale champion is stale for every request."""
    return (
        f"{ReasonCode.STALE_MODEL}: {info.name} v{info.version} was trained on data up to "
        f"{info.trained_at:%Y-%m-%d}, {age_days} days ago (limit {max_age_days:g})"
    )


def _other_gross(portfolio: Portfolio, symbol: str) -> tuple[float, list[str]]:
    """Gross weight of the book's other positions that have a price, and those that have none."""
    gross, unpriced = 0.0, []
    for other, quantity in portfolio.positions.items():
        if other == symbol or quantity == 0.0:
            continue
        price = portfolio.prices.get(other)
        if price is None:
            unpriced.append(other)
        else:
            gross += abs(quantity) * price
    return gross / portfolio.equity, unpriced


def _unpriced_reason(unpriced: list[str]) -> str:
    named = ", ".join(sorted(unpriced)[:5]) + (", ..." if len(unpriced) > 5 else "")
    return (
        f"{ReasonCode.GROSS_CAP}: {len(unpriced)} other position(s) without a price in "
        f"portfolio.prices ({named}) not counted in the gross cap"
    )


def decide_with_view(
    request: DecisionRequest,
    bars: RequestBars,
    view: ModelView,
    bundle: ModelBundle,
    risk: RiskPass,
    config: EngineConfig,
    now: datetime,
    news: NewsInputs = NO_NEWS,
) -> Outcome:
    """The policy's decision for one request, from what the models say (``model_views``)."""
    signal, portfolio = request.signal, request.portfolio
    last_close = float(bars.columns["close"][-1])
    equity = portfolio.equity if portfolio else 1.0
    peak_equity = max(portfolio.peak_equity or equity, equity) if portfolio else 1.0
    book = portfolio.book if portfolio else None
    generation = 0
    if book is not None and (mark := risk.mark(book)) is not None:
        peak_equity, generation = max(peak_equity, mark.peak_equity), mark.generation
    position = portfolio.positions.get(signal.symbol, 0.0) if portfolio else 0.0
    other_gross, unpriced = _other_gross(portfolio, signal.symbol) if portfolio else (0.0, [])
    stale = stale_reasons(bundle, now, config.max_model_age_days)
    current_weight = position * last_close / equity
    if not math.isfinite(current_weight):  # the schema's bounds keep it finite; a guard, not a path
        raise InvalidInputError(
            ("body", "portfolio", "positions", signal.symbol),
            f"position x last close / equity must be finite, got {current_weight}",
        )
    context = SignalContext(
        symbol=signal.symbol,
        side=signal.side,
        strength=signal.strength,
        predicted_return=view.predicted_return,
        volatility=view.volatility,
        anomaly_score=view.anomaly_score,
        current_weight=current_weight,
        equity=equity,
        peak_equity=peak_equity,
        kill_switch=config.kill_switch,
        sentiment=news.sentiment,
        sentiment_shock=news.sentiment_shock,
        review_scale=news.review_scale,
        review_note=news.review_note,
        other_gross=other_gross,
        stale_model=bool(stale),
    )
    latch = risk.latch(signal.symbol)
    decision = decide(context, config.policy, latch)
    reasons = [f"{code}: {text}" for code, text in zip(decision.reason_codes, decision.reasons, strict=True)]
    reasons += [f"ANOMALY: {text}" for text in view.anomaly_reasons]
    reasons += stale
    if unpriced:
        reasons.append(_unpriced_reason(unpriced))
    quantity = decision.target_weight * equity / last_close - position if portfolio else None
    response = DecisionResponse(
        request_id=request.request_id,
        decision_id=uuid.uuid4().hex,
        action=decision.action.value,
        target_weight=decision.target_weight,
        quantity=quantity,
        confidence=decision.confidence,
        predicted_return=view.predicted_return,
        volatility_forecast=view.volatility,
        anomaly_score=view.anomaly_score,
        reasons=reasons,
        model_versions=dict(bundle.champions.versions),
        decided_at=now,
    )
    halted = decision.state.anomaly_halted
    move = RiskMove(
        signal.symbol,
        halted if halted != latch.anomaly_halted else None,
        view.anomaly_score,
        book,
        equity,
        peak_equity,
        generation,
    )
    return Outcome(
        response,
        view.features_hash,
        move if move.halted is not None or book else None,
        context,
        latch,
        view.inputs,
    )
