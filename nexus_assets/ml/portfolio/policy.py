"""The decision policy for one Lona signal: execute, reduce, reject or halt, with reasons.

Used unchanged by the backtest, the allocation asset and the decision service. From the signal,
the predictor's expected return, the volatility forecast and the anomaly score it sizes a
target weight by volatility targeting, shrinks it when the model disagrees with the signal,
and applies the hard limits (kill switch, anomaly halt, drawdown breaker, position and gross
caps). Every departure from "execute as asked" carries a reason code.

Two optional inputs come from the news and review assets; left at their defaults they change
nothing. ``review_scale`` is the share of the signal's strength its strategy review keeps (0
blocks new risk from that strategy). A ``sentiment_shock`` against the signal's direction cuts
the size by ``sentiment_shock_scale``: a sudden, strongly polarised news flow is a risk the
price models cannot see yet. A shock in the signal's direction is only annotated: news never
adds risk.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

from nexus_assets.ml.portfolio.risk_gate import ReasonCode, RiskLimits, RiskState, evaluate_gate

SIDES = {"buy": 1.0, "sell": -1.0, "flat": 0.0}


class Action(StrEnum):
    EXECUTE = "execute"
    REDUCE = "reduce"
    REJECT = "reject"
    HALT = "halt"


@dataclass(frozen=True)
class PolicyConfig:
    risk: RiskLimits = field(default_factory=RiskLimits)
    target_volatility: float = 0.10
    """Annualised volatility one full-strength position is sized to."""
    periods_per_year: int = 252
    max_position_weight: float = 0.25
    max_gross: float = 1.0
    allow_short: bool = True
    min_strength: float = 0.05
    disagreement_scale: float = 0.5
    """Size kept when the predictor expects a move against the signal."""
    disagreement_threshold: float = 0.1
    """Predicted return (in units of one bar's volatility) beyond which the model 'disagrees'."""
    sentiment_shock_scale: float = 0.5
    """Size kept when a news sentiment shock runs against the signal."""
    stale_model_action: Literal["annotate", "reduce", "reject"] = "annotate"
    """What a decision made with a champion older than the maximum age does: only say so, keep
    ``stale_model_scale`` of its size, or add no risk (a trade that reduces exposure still passes)."""
    stale_model_scale: float = 0.5

    def __post_init__(self) -> None:
        for name in ("target_volatility", "max_position_weight", "max_gross"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name}: must be positive")
        if not 0.0 <= self.disagreement_scale <= 1.0:
            raise ValueError("disagreement_scale: must be in [0, 1]")
        if not 0.0 <= self.sentiment_shock_scale <= 1.0:
            raise ValueError("sentiment_shock_scale: must be in [0, 1]")
        if self.stale_model_action not in ("annotate", "reduce", "reject"):
            raise ValueError("stale_model_action: must be annotate, reduce or reject")
        if not 0.0 <= self.stale_model_scale <= 1.0:
            raise ValueError("stale_model_scale: must be in [0, 1]")


@dataclass(frozen=True)
class SignalContext:
    """Everything the policy needs to know about one signal and the book it lands in."""

    symbol: str
    side: str
    strength: float
    predicted_return: float
    volatility: float
    """Forecast per-bar volatility (std of the next bar's log return)."""
    anomaly_score: float
    current_weight: float = 0.0
    other_gross: float = 0.0
    """Gross exposure of every other position."""
    equity: float = 1.0
    peak_equity: float = 1.0
    kill_switch: bool = False
    sentiment: float | None = None
    """Decayed news sentiment for the symbol in [-1, 1]; None when no news source is wired in."""
    sentiment_shock: bool = False
    review_scale: float = 1.0
    """Share of ``strength`` the strategy's review keeps: 1 approved, 0 blocked."""
    review_note: str | None = None
    stale_model: bool = False
    """A champion behind this decision is older than the maximum model age."""

    def __post_init__(self) -> None:
        if self.side not in SIDES:
            raise ValueError(f"side: must be buy, sell or flat, got {self.side!r}")
        for name in (
            "strength",
            "predicted_return",
            "volatility",
            "anomaly_score",
            "current_weight",
            "other_gross",
        ):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"{name}: must be finite")
        if not 0.0 <= self.strength <= 1.0:
            raise ValueError("strength: must be in [0, 1]")
        if self.volatility <= 0:
            raise ValueError("volatility: must be positive")
        if self.sentiment is not None and not (
            math.isfinite(self.sentiment) and -1.0 <= self.sentiment <= 1.0
        ):
            raise ValueError("sentiment: must be finite and in [-1, 1]")
        if not (math.isfinite(self.review_scale) and 0.0 <= self.review_scale <= 1.0):
            raise ValueError("review_scale: must be in [0, 1]")


@dataclass(frozen=True)
class Decision:
    action: Action
    target_weight: float
    confidence: float
    reason_codes: tuple[str, ...]
    reasons: tuple[str, ...]
    state: RiskState


def _sized_weight(context: SignalContext, strength: float, config: PolicyConfig) -> float:
    per_bar_target = config.target_volatility / math.sqrt(config.periods_per_year)
    return SIDES[context.side] * strength * per_bar_target / context.volatility


def _review(context: SignalContext, codes: list[str], reasons: list[str]) -> float:
    """The strength left after the strategy review, with its reason when it takes any."""
    if context.review_scale < 1.0:
        codes.append(ReasonCode.STRATEGY_REVIEW)
        verdict = "blocked" if context.review_scale == 0.0 else f"strength x{context.review_scale:g}"
        reasons.append(
            f"strategy review: {verdict}" + (f" ({context.review_note})" if context.review_note else "")
        )
    return context.strength * context.review_scale


def _sentiment_against(
    context: SignalContext, config: PolicyConfig, codes: list[str], reasons: list[str]
) -> bool:
    """Annotate a news shock; True when it runs against the signal (the size is then cut)."""
    if not context.sentiment_shock or context.sentiment is None:
        return False
    direction = SIDES[context.side]
    against = direction * context.sentiment < 0
    codes.append(ReasonCode.SENTIMENT_SHOCK)
    if against:
        reasons.append(
            f"news sentiment shock {context.sentiment:+.2f} against a {context.side} signal: "
            f"size x{config.sentiment_shock_scale:g}"
        )
    else:
        reasons.append(
            f"news sentiment shock {context.sentiment:+.2f}; no change for a {context.side} signal"
        )
    return against and direction != 0.0


def decide(context: SignalContext, config: PolicyConfig, state: RiskState) -> Decision:
    """One decision; pure, so the same inputs give the same decision in backtest and serving."""
    gate = evaluate_gate(
        kill_switch=context.kill_switch,
        anomaly_score=context.anomaly_score,
        equity=context.equity,
        peak_equity=context.peak_equity,
        limits=config.risk,
        state=state,
    )
    codes, reasons = list(gate.codes), list(gate.reasons)
    direction = SIDES[context.side]
    strength = _review(context, codes, reasons) if direction != 0.0 else context.strength
    z = context.predicted_return / context.volatility
    agrees = direction == 0.0 or z * direction >= -config.disagreement_threshold
    confidence = strength * (1.0 if agrees else config.disagreement_scale) * (1.0 - context.anomaly_score)
    if gate.halt:
        return Decision(Action.HALT, context.current_weight, 0.0, tuple(codes), tuple(reasons), gate.state)

    if direction != 0.0 and strength < config.min_strength:
        codes.append(ReasonCode.WEAK_SIGNAL)
        reasons.append(f"strength {strength:.3f} < {config.min_strength}")
        return Decision(
            Action.REJECT, context.current_weight, confidence, tuple(codes), tuple(reasons), gate.state
        )
    if direction < 0 and not config.allow_short and context.current_weight <= 0:
        codes.append(ReasonCode.POSITION_CAP)
        reasons.append("short selling is disabled")
        return Decision(
            Action.REJECT, context.current_weight, confidence, tuple(codes), tuple(reasons), gate.state
        )

    target = _sized_weight(context, strength, config)
    reduced = strength < context.strength
    if _sentiment_against(context, config, codes, reasons):
        target *= config.sentiment_shock_scale
        reduced = True
    if not agrees:
        target *= config.disagreement_scale
        reduced = True
        codes.append(ReasonCode.MODEL_DISAGREES)
        reasons.append(f"predictor expects {context.predicted_return:+.4%} against a {context.side} signal")
    if context.stale_model and config.stale_model_action == "reduce":
        target *= config.stale_model_scale
        reduced = True
        codes.append(ReasonCode.STALE_MODEL)
        reasons.append(f"a champion is older than the maximum model age: size x{config.stale_model_scale:g}")
    if abs(target) > config.max_position_weight:
        target = math.copysign(config.max_position_weight, target)
        reduced = True
        codes.append(ReasonCode.POSITION_CAP)
        reasons.append(f"position capped at {config.max_position_weight:.0%} of equity")
    if not config.allow_short:
        target = max(target, 0.0)
    room = max(config.max_gross - context.other_gross, 0.0)
    if abs(target) > room:
        target = math.copysign(room, target)
        reduced = True
        codes.append(ReasonCode.GROSS_CAP)
        reasons.append(f"gross exposure capped at {config.max_gross:.0%}")
    stale_stop = context.stale_model and config.stale_model_action == "reject"
    if stale_stop:
        codes.append(ReasonCode.STALE_MODEL)
        reasons.append("a champion is older than the maximum model age: no new risk")
    if (gate.no_new_risk or stale_stop) and abs(target) > abs(context.current_weight):
        action = Action.HALT if ReasonCode.ANOMALY_HALT in codes else Action.REJECT
        return Decision(action, context.current_weight, confidence, tuple(codes), tuple(reasons), gate.state)
    if direction != 0.0 and target == 0.0:
        return Decision(
            Action.REJECT, context.current_weight, confidence, tuple(codes), tuple(reasons), gate.state
        )
    action = Action.REDUCE if reduced else Action.EXECUTE
    return Decision(action, target, confidence, tuple(codes), tuple(reasons), gate.state)
