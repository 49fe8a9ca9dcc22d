"""News sentiment and strategy reviews in the decision policy and the allocation's inputs."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from policy_signals import CONFIG, DAILY_TARGET, signal_context

from nexus_assets.ml.portfolio.news_inputs import UNREVIEWED_SCALE, latest_sentiment, reviewed_signals
from nexus_assets.ml.portfolio.policy import Action, decide
from nexus_assets.ml.portfolio.risk_gate import ReasonCode, RiskState


def test_without_news_or_review_the_decision_is_unchanged():
    plain = decide(signal_context(), CONFIG, RiskState())
    calm = decide(signal_context(sentiment=-0.2, sentiment_shock=False), CONFIG, RiskState())
    assert calm == plain and plain.action is Action.EXECUTE


def test_a_shock_against_the_signal_halves_it_with_a_reason():
    decision = decide(signal_context(sentiment=-0.7, sentiment_shock=True), CONFIG, RiskState())
    assert decision.action is Action.REDUCE
    assert decision.reason_codes == (ReasonCode.SENTIMENT_SHOCK,)
    assert decision.target_weight == pytest.approx(0.5 * 0.5 * DAILY_TARGET / 0.02)
    assert "news sentiment shock -0.70 against a buy signal" in decision.reasons[0]


def test_a_shock_in_the_signals_direction_is_only_annotated():
    decision = decide(signal_context(sentiment=0.7, sentiment_shock=True), CONFIG, RiskState())
    plain = decide(signal_context(), CONFIG, RiskState())
    assert decision.action is Action.EXECUTE and decision.target_weight == plain.target_weight
    assert decision.reason_codes == (ReasonCode.SENTIMENT_SHOCK,)


def test_a_cautious_review_scales_and_a_block_rejects_new_risk():
    cautious = decide(
        signal_context(review_scale=0.5, review_note="caution by rules: 15 trades"), CONFIG, RiskState()
    )
    assert cautious.action is Action.REDUCE
    assert cautious.target_weight == pytest.approx(0.25 * DAILY_TARGET / 0.02)
    assert cautious.reason_codes == (ReasonCode.STRATEGY_REVIEW,)
    assert "15 trades" in cautious.reasons[0]
    blocked = decide(signal_context(review_scale=0.0), CONFIG, RiskState())
    assert blocked.action is Action.REJECT
    assert blocked.reason_codes == (ReasonCode.STRATEGY_REVIEW, ReasonCode.WEAK_SIGNAL)


def test_a_blocked_strategys_exit_still_closes_the_position():
    decision = decide(signal_context(side="flat", current_weight=0.1, review_scale=0.0), CONFIG, RiskState())
    assert (decision.action, decision.target_weight) == (Action.EXECUTE, 0.0)


@pytest.mark.parametrize("changes", [{"sentiment": 1.5}, {"sentiment": math.nan}, {"review_scale": 1.2}])
def test_out_of_range_news_inputs_are_refused(changes):
    with pytest.raises(ValueError, match=r"sentiment|review_scale"):
        signal_context(**changes)


T = datetime(2026, 3, 2, 21, tzinfo=UTC)


def test_the_allocation_reads_each_symbols_newest_bar_only():
    bars = pl.DataFrame({"symbol": ["AAPL", "AAPL", "MSFT"], "timestamp": [T, T + timedelta(days=1), T]})
    sentiment = pl.DataFrame(
        {
            "symbol": ["AAPL", "AAPL", "MSFT"],
            "timestamp": [T, T + timedelta(days=1), T - timedelta(days=1)],
            "sentiment": [0.9, -0.4, 0.3],
            "sentiment_shock": [True, False, True],
        }
    )
    assert latest_sentiment(sentiment, bars) == {"AAPL": (-0.4, False)}


def test_signals_carry_their_strategys_review():
    signals = pl.DataFrame({"signal_id": ["a", "b", "c"], "strategy_id": ["s1", "s2", "s3"]})
    reviews = pl.DataFrame(
        {
            "strategy_id": ["s1", "s2"],
            "strength_scale": [1.0, 0.0],
            "verdict": ["approve", "block"],
            "reviewer": ["rules", "llm+rules"],
            "rationale": ["ok", "reads a future bar"],
        }
    )
    out = {r["signal_id"]: r for r in reviewed_signals(signals, reviews).iter_rows(named=True)}
    assert (out["a"]["review_scale"], out["a"]["review_note"]) == (1.0, None)
    assert (out["b"]["review_scale"], out["b"]["review_note"]) == (
        0.0,
        "block by llm+rules: reads a future bar",
    )
    assert (out["c"]["review_scale"], out["c"]["review_note"]) == (
        UNREVIEWED_SCALE,
        "strategy not reviewed yet",
    )
