"""The decision policy and its risk gate: every departure from 'execute' has a reason code."""

from __future__ import annotations

from dataclasses import replace

import pytest
from policy_signals import CONFIG, DAILY_TARGET, signal_context

from nexus_assets.ml.portfolio.policy import Action, decide
from nexus_assets.ml.portfolio.risk_gate import ReasonCode, RiskLimits, RiskState, evaluate_gate


def test_agreeing_signal_is_sized_by_volatility_targeting():
    decision = decide(signal_context(), CONFIG, RiskState())
    assert decision.action is Action.EXECUTE
    assert decision.target_weight == pytest.approx(0.5 * DAILY_TARGET / 0.02)
    assert decision.reason_codes == ()
    doubled_vol = decide(signal_context(volatility=0.04), CONFIG, RiskState())
    assert doubled_vol.target_weight == pytest.approx(decision.target_weight / 2)


def test_sell_goes_short_and_flat_closes():
    assert decide(signal_context(side="sell", predicted_return=-0.001), CONFIG, RiskState()).target_weight < 0
    flat = decide(signal_context(side="flat", current_weight=0.1), CONFIG, RiskState())
    assert (flat.action, flat.target_weight) == (Action.EXECUTE, 0.0)


def test_model_disagreement_reduces_the_position():
    decision = decide(signal_context(predicted_return=-0.005), CONFIG, RiskState())
    assert decision.action is Action.REDUCE
    assert ReasonCode.MODEL_DISAGREES in decision.reason_codes
    assert decision.target_weight == pytest.approx(0.5 * 0.5 * DAILY_TARGET / 0.02)


def test_caps_clip_and_say_so():
    capped = decide(signal_context(strength=1.0, volatility=0.001), CONFIG, RiskState())
    assert capped.target_weight == CONFIG.max_position_weight
    assert ReasonCode.POSITION_CAP in capped.reason_codes
    crowded = decide(signal_context(strength=1.0, volatility=0.001, other_gross=0.9), CONFIG, RiskState())
    assert crowded.target_weight == pytest.approx(0.1)
    assert ReasonCode.GROSS_CAP in crowded.reason_codes
    full = decide(signal_context(other_gross=1.0), CONFIG, RiskState())
    assert full.action is Action.REJECT


def test_weak_signal_is_rejected():
    decision = decide(signal_context(strength=0.01), CONFIG, RiskState())
    assert decision.action is Action.REJECT
    assert decision.reason_codes == (ReasonCode.WEAK_SIGNAL,)


def test_kill_switch_halts_and_keeps_the_position():
    decision = decide(signal_context(kill_switch=True, current_weight=0.05), CONFIG, RiskState())
    assert (decision.action, decision.target_weight) == (Action.HALT, 0.05)
    assert ReasonCode.KILL_SWITCH in decision.reason_codes


def test_anomaly_halt_has_hysteresis():
    halted = decide(signal_context(anomaly_score=0.995), CONFIG, RiskState())
    assert halted.action is Action.HALT
    assert halted.state.anomaly_halted
    still = decide(signal_context(anomaly_score=0.97), CONFIG, halted.state)
    assert still.action is Action.HALT
    resumed = decide(signal_context(anomaly_score=0.9), CONFIG, still.state)
    assert resumed.action is Action.EXECUTE
    assert not resumed.state.anomaly_halted
    never_halted = decide(signal_context(anomaly_score=0.97), CONFIG, RiskState())
    assert never_halted.action is Action.EXECUTE


def test_drawdown_breaker_blocks_new_risk_but_allows_reductions():
    deep = {"equity": 0.75, "peak_equity": 1.0}
    more = decide(signal_context(current_weight=0.01, **deep), CONFIG, RiskState())
    assert more.action is Action.REJECT
    assert ReasonCode.DRAWDOWN_BREAKER in more.reason_codes
    less = decide(signal_context(side="flat", current_weight=0.2, **deep), CONFIG, RiskState())
    assert (less.action, less.target_weight) == (Action.EXECUTE, 0.0)


def test_long_only_rejects_new_shorts():
    config = replace(CONFIG, allow_short=False)
    decision = decide(signal_context(side="sell", predicted_return=-0.001), config, RiskState())
    assert decision.action is Action.REJECT


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("side", "hold", "side: must be buy, sell or flat"),
        ("strength", 1.5, "strength: must be in"),
        ("volatility", 0.0, "volatility: must be positive"),
        ("predicted_return", float("nan"), "predicted_return: must be finite"),
    ],
)
def test_bad_inputs_name_the_field(field, value, message):
    with pytest.raises(ValueError, match=message):
        signal_context(**{field: value})


def test_gate_and_limits_validate():
    with pytest.raises(ValueError, match="anomaly_resume"):
        RiskLimits(anomaly_halt=0.9, anomaly_resume=0.95)
    gate = evaluate_gate(
        kill_switch=False,
        anomaly_score=0.1,
        equity=1.0,
        peak_equity=1.0,
        limits=RiskLimits(),
        state=RiskState(),
    )
    assert (gate.halt, gate.no_new_risk, gate.codes) == (False, False, ())


def test_anomaly_halt_still_lets_the_book_de_risk():
    decision = decide(
        signal_context(side="flat", current_weight=0.2, anomaly_score=0.999), CONFIG, RiskState()
    )
    assert (decision.action, decision.target_weight) == (Action.EXECUTE, 0.0)
    assert ReasonCode.ANOMALY_HALT in decision.reason_codes


def test_a_stale_champion_annotates_reduces_or_stops_new_risk_as_configured():
    fresh = decide(signal_context(), CONFIG, RiskState())
    stale = signal_context(stale_model=True)
    annotated = decide(stale, CONFIG, RiskState())
    assert (annotated.action, annotated.target_weight) == (fresh.action, fresh.target_weight)
    assert ReasonCode.STALE_MODEL not in annotated.reason_codes, "serving adds the annotation itself"

    reduced = decide(stale, replace(CONFIG, stale_model_action="reduce"), RiskState())
    assert reduced.action is Action.REDUCE and ReasonCode.STALE_MODEL in reduced.reason_codes
    assert reduced.target_weight == pytest.approx(fresh.target_weight * 0.5)

    rejecting = replace(CONFIG, stale_model_action="reject")
    stopped = decide(stale, rejecting, RiskState())
    assert stopped.action is Action.REJECT and ReasonCode.STALE_MODEL in stopped.reason_codes
    assert stopped.target_weight == 0.0, "no new risk: the book stays where it is"
    derisk = decide(signal_context(side="flat", current_weight=0.1, stale_model=True), rejecting, RiskState())
    assert (derisk.action, derisk.target_weight) == (Action.EXECUTE, 0.0), "closing a position still passes"
    with pytest.raises(ValueError, match="stale_model_action"):
        replace(CONFIG, stale_model_action="ignore")
