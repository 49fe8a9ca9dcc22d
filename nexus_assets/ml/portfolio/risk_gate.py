"""Hard risk limits that sit in front of every decision, in the backtest and in serving alike.

The manual kill switch stops all trading. The anomaly halt (with hysteresis, so a score
hovering at the threshold does not flip trading on and off) and the drawdown breaker (after a
configured loss from the equity peak) stop new risk but let the book de-risk. Each carries a
reason code that travels with the decision.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class ReasonCode:
    """Codes for every rejection, halt or reduction; stable strings that reports can group by."""

    KILL_SWITCH = "KILL_SWITCH"
    ANOMALY_HALT = "ANOMALY_HALT"
    DRAWDOWN_BREAKER = "DRAWDOWN_BREAKER"
    WEAK_SIGNAL = "WEAK_SIGNAL"
    MODEL_DISAGREES = "MODEL_DISAGREES"
    POSITION_CAP = "POSITION_CAP"
    GROSS_CAP = "GROSS_CAP"
    MARKET_DOWNTREND = "MARKET_DOWNTREND"
    SOLVER_FALLBACK = "SOLVER_FALLBACK"
    STALE_MODEL = "STALE_MODEL"
    SENTIMENT_SHOCK = "SENTIMENT_SHOCK"
    STRATEGY_REVIEW = "STRATEGY_REVIEW"


@dataclass(frozen=True)
class RiskLimits:
    anomaly_halt: float = 0.99
    """Halt at or above this anomaly score..."""
    anomaly_resume: float = 0.95
    """...and resume only once it falls below this one."""
    drawdown_limit: float = 0.20
    """No new risk once equity is this fraction below its peak."""

    def __post_init__(self) -> None:
        if not 0.0 < self.anomaly_resume <= self.anomaly_halt <= 1.0:
            raise ValueError("anomaly_resume/anomaly_halt: need 0 < resume <= halt <= 1")
        if not 0.0 < self.drawdown_limit < 1.0:
            raise ValueError("drawdown_limit: must be in (0, 1)")


@dataclass(frozen=True)
class RiskState:
    """What the gate remembers between decisions (the anomaly halt latch)."""

    anomaly_halted: bool = False


@dataclass(frozen=True)
class GateResult:
    halt: bool
    """Trade nothing at all (the manual kill switch)."""
    no_new_risk: bool
    """Only trades that reduce exposure are allowed (anomaly halt, drawdown breaker): halting new
    risk must never stop a book from de-risking."""
    codes: tuple[str, ...]
    reasons: tuple[str, ...]
    state: RiskState = field(default_factory=RiskState)


def evaluate_gate(
    *,
    kill_switch: bool,
    anomaly_score: float,
    equity: float,
    peak_equity: float,
    limits: RiskLimits,
    state: RiskState,
) -> GateResult:
    codes: list[str] = []
    reasons: list[str] = []
    latched = (
        anomaly_score >= limits.anomaly_resume
        if state.anomaly_halted
        else anomaly_score >= limits.anomaly_halt
    )
    if kill_switch:
        codes.append(ReasonCode.KILL_SWITCH)
        reasons.append("manual kill switch is on: no trading")
    if latched:
        codes.append(ReasonCode.ANOMALY_HALT)
        reasons.append(
            f"anomaly score {anomaly_score:.3f} "
            + (
                f"has not fallen below {limits.anomaly_resume}"
                if state.anomaly_halted
                else f">= {limits.anomaly_halt}"
            )
            + ": new risk halted"
        )
    drawdown = 1.0 - equity / peak_equity if peak_equity > 0 else 0.0
    breaker = drawdown >= limits.drawdown_limit
    if breaker:
        codes.append(ReasonCode.DRAWDOWN_BREAKER)
        reasons.append(f"drawdown {drawdown:.1%} >= limit {limits.drawdown_limit:.0%}: no new risk")
    return GateResult(
        halt=kill_switch,
        no_new_risk=latched or breaker,
        codes=tuple(codes),
        reasons=tuple(reasons),
        state=RiskState(anomaly_halted=latched),
    )
