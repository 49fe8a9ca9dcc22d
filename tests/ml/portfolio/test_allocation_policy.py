"""The allocation: the policy's desired weights, then the optimizer only where a limit binds."""

from __future__ import annotations

import numpy as np
import pytest

from nexus_assets.ml.optimizer.weights import AllocationLimits
from nexus_assets.ml.portfolio.allocation import SymbolView, allocate
from nexus_assets.ml.portfolio.policy import Action, PolicyConfig
from nexus_assets.ml.portfolio.risk_gate import ReasonCode, RiskState

COVARIANCE = np.diag([0.02, 0.015, 0.01]) ** 2
LOOSE = AllocationLimits(
    max_weight=1.0, max_gross=3.0, max_net=3.0, min_net=-3.0, long_only=False, max_turnover=None,
    target_volatility=None, cost_per_unit_turnover=0.0,
)  # fmt: skip


def _views(**signals) -> list[SymbolView]:
    names = ("AAA", "BBB", "CCC")
    return [
        SymbolView(
            symbol=name,
            predicted_return=0.003,
            volatility=float(np.sqrt(COVARIANCE[i, i])),
            anomaly_score=0.1,
            current_weight=0.0,
            signal=signals.get(name),
        )
        for i, name in enumerate(names)
    ]


def test_without_binding_limits_the_policy_weights_pass_through():
    views = _views(AAA={"side": "buy", "strength": 0.8}, BBB={"side": "sell", "strength": 0.5})
    outcome = allocate(views, COVARIANCE, policy=PolicyConfig(), limits=LOOSE)
    assert outcome.optimizer_status == "optimal"
    assert np.allclose(outcome.target_weights, outcome.desired_weights, atol=1e-5)
    assert outcome.desired_weights[0] > 0 > outcome.desired_weights[1]
    assert outcome.desired_weights[2] == 0.0
    assert outcome.decisions["BBB"].action is Action.REDUCE  # the predictor disagrees with the sell


def test_portfolio_limits_bind_in_the_optimizer():
    views = _views(
        AAA={"side": "buy", "strength": 1.0},
        BBB={"side": "buy", "strength": 1.0},
        CCC={"side": "buy", "strength": 1.0},
    )
    tight = AllocationLimits(
        max_weight=0.25, max_gross=0.5, max_net=0.5, min_net=0.0, max_turnover=None, target_volatility=0.05
    )
    outcome = allocate(views, COVARIANCE, policy=PolicyConfig(), limits=tight)
    weights = outcome.target_weights
    assert np.abs(weights).sum() <= 0.5 + 1e-9
    assert (np.abs(weights) <= 0.25 + 1e-9).all()
    assert np.sqrt(weights @ COVARIANCE @ weights * 252) <= 0.05 + 1e-6


def test_kill_switch_keeps_the_book_as_it_is():
    views = _views(AAA={"side": "buy", "strength": 1.0})
    outcome = allocate(views, COVARIANCE, policy=PolicyConfig(), limits=LOOSE, kill_switch=True)
    assert outcome.optimizer_status == "halted"
    assert (outcome.target_weights == 0.0).all()
    assert ReasonCode.KILL_SWITCH in outcome.decisions["AAA"].reason_codes


@pytest.mark.parametrize("score", [0.995, 0.999])
def test_anomaly_blocks_new_positions(score):
    views = [
        SymbolView("AAA", 0.001, 0.02, score, 0.0, {"side": "buy", "strength": 1.0}),
        SymbolView("BBB", 0.001, 0.015, 0.1, 0.0, None),
        SymbolView("CCC", 0.001, 0.01, 0.1, 0.0, None),
    ]
    outcome = allocate(views, COVARIANCE, policy=PolicyConfig(), limits=LOOSE)
    assert outcome.decisions["AAA"].action is Action.HALT
    assert outcome.target_weights[0] == pytest.approx(0.0, abs=1e-6)


def test_each_symbol_has_its_own_latch():
    """AAA's halt does not halt BBB, whose score alone is between the resume and halt levels;
    a stored latch on BBB does (hysteresis), and each symbol's latch comes back as its own."""
    views = [
        SymbolView("AAA", 0.001, 0.02, 0.995, 0.0, {"side": "buy", "strength": 1.0}),
        SymbolView("BBB", 0.001, 0.015, 0.96, 0.0, {"side": "buy", "strength": 1.0}),
        SymbolView("CCC", 0.001, 0.01, 0.1, 0.0, None),
    ]
    fresh = allocate(views, COVARIANCE, policy=PolicyConfig(), limits=LOOSE)
    assert fresh.decisions["AAA"].action is Action.HALT
    assert fresh.decisions["BBB"].action is not Action.HALT
    assert fresh.states == {"AAA": RiskState(anomaly_halted=True), "BBB": RiskState(anomaly_halted=False)}

    latched = allocate(
        views,
        COVARIANCE,
        policy=PolicyConfig(),
        limits=LOOSE,
        latches={"BBB": RiskState(anomaly_halted=True)},
    )
    assert latched.decisions["BBB"].action is Action.HALT
    assert latched.states["BBB"] == RiskState(anomaly_halted=True)


def test_strategies_that_disagree_net_to_nothing_instead_of_flipping():
    view = SymbolView(
        "AAA", 0.0, 0.02, 0.1, 0.1, {"side": "sell", "strength": 1.0},
        signals=({"side": "buy", "strength": 1.0}, {"side": "sell", "strength": 1.0}),
    )  # fmt: skip
    outcome = allocate([view], COVARIANCE[:1, :1], policy=PolicyConfig(), limits=LOOSE)
    assert outcome.desired_weights[0] == pytest.approx(0.0, abs=1e-12)
    assert len(outcome.signal_decisions) == 2


def test_a_flat_strategy_pulls_the_size_down_and_every_decision_is_kept():
    one = SymbolView("AAA", 0.0, 0.02, 0.1, 0.0, signals=({"side": "buy", "strength": 1.0},))
    two = SymbolView(
        "AAA",
        0.0,
        0.02,
        0.1,
        0.0,
        signals=({"side": "buy", "strength": 1.0}, {"side": "flat", "strength": 1.0}),
    )
    alone = allocate([one], COVARIANCE[:1, :1], policy=PolicyConfig(), limits=LOOSE).desired_weights[0]
    netted = allocate([two], COVARIANCE[:1, :1], policy=PolicyConfig(), limits=LOOSE).desired_weights[0]
    assert alone > 0 and netted == pytest.approx(alone / 2)


def test_a_symbol_without_a_standing_signal_is_closed_and_never_hedged_into():
    views = [
        SymbolView("AAA", 0.001, 0.02, 0.1, 0.0, {"side": "buy", "strength": 1.0}),
        SymbolView("BBB", 0.001, 0.015, 0.1, 0.2, None),
    ]
    correlated = np.array([[0.02**2, 0.9 * 0.02 * 0.015], [0.9 * 0.02 * 0.015, 0.015**2]])
    tight = AllocationLimits(max_weight=0.25, max_gross=1.0, max_turnover=None, target_volatility=0.05)
    outcome = allocate(views, correlated, policy=PolicyConfig(), limits=tight)
    assert outcome.desired_weights[1] == 0.0
    assert outcome.target_weights[1] == 0.0, "no dust, no hedge where no signal stands"
    assert outcome.target_weights[0] > 0
