"""Strategy templates for the Lona stand-in: parameters, positions and Backtrader source.

Four classic rules cover trend, mean reversion and breakout behaviour so that downstream
models see signals of different character. A position is decided at a bar's close from bars
up to and including that bar only (trailing windows, positive shifts), which is what makes a
report over a longer prefix extend, never rewrite, the trades of a shorter one.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from string import Template
from typing import Any

import numpy as np
import polars as pl

from nexus_assets.lona.wire import format_time
from nexus_assets.sim.strategies_code import DONCHIAN_CODE, MOMENTUM_CODE, RSI_CODE, SMA_CODE

Params = Mapping[str, Any]
_ID_NAMESPACE = uuid.UUID("3a4c7f5e-2b1d-4e8a-9c6f-0d5e7a1b2c3d")


def stable_id(*parts: object) -> str:
    """A UUID that depends only on ``parts``, so ids repeat across restarts with one seed."""
    return str(uuid.uuid5(_ID_NAMESPACE, ":".join(str(p) for p in parts)))


def _state(enter: pl.Expr, leave: pl.Expr) -> pl.Expr:
    """1 from a bar where ``enter`` holds until a bar where ``leave`` holds, else 0."""
    return (
        pl.when(enter)
        .then(pl.lit(1, pl.Int8))
        .when(leave)
        .then(pl.lit(0, pl.Int8))
        .otherwise(None)
        .forward_fill()
        .fill_null(0)
    )


def _sma_crossover(params: Params) -> pl.Expr:
    fast = pl.col("close").rolling_mean(int(params["fast"]))
    slow = pl.col("close").rolling_mean(int(params["slow"]))
    below = -1 if params["allow_short"] else 0
    return pl.when(fast > slow).then(1).when(fast < slow).then(below).otherwise(0)


def _rsi(period: int) -> pl.Expr:
    delta = pl.col("close").diff().fill_null(0.0)
    gain = delta.clip(lower_bound=0.0).ewm_mean(alpha=1 / period, adjust=False, min_samples=period)
    loss = (-delta).clip(lower_bound=0.0).ewm_mean(alpha=1 / period, adjust=False, min_samples=period)
    return pl.when(loss == 0).then(100.0).otherwise(100.0 - 100.0 / (1.0 + gain / loss))


def _rsi_reversion(params: Params) -> pl.Expr:
    rsi = _rsi(int(params["period"]))
    long = _state(rsi < params["lower"], rsi >= 50.0)
    if not params["allow_short"]:
        return long
    return long - _state(rsi > params["upper"], rsi <= 50.0)


def _donchian_breakout(params: Params) -> pl.Expr:
    entry, exit_ = int(params["entry"]), int(params["exit"])
    upper_in = pl.col("high").rolling_max(entry).shift(1)
    lower_in = pl.col("low").rolling_min(entry).shift(1)
    upper_out = pl.col("high").rolling_max(exit_).shift(1)
    lower_out = pl.col("low").rolling_min(exit_).shift(1)
    close = pl.col("close")
    long = _state(close > upper_in, close < lower_out)
    if not params["allow_short"]:
        return long
    return long - _state(close < lower_in, close > upper_out)


def _ts_momentum(params: Params) -> pl.Expr:
    change = pl.col("close") / pl.col("close").shift(int(params["lookback"])) - 1.0
    threshold = float(params["threshold"])
    below = -1 if params["allow_short"] else 0
    target = pl.when(change > threshold).then(1).when(change < -threshold).then(below).otherwise(0)
    rebalance = pl.int_range(pl.len()) % int(params["hold"]) == 0
    return pl.when(rebalance & change.is_not_null()).then(target).otherwise(None).forward_fill().fill_null(0)


def _sma_params(rng: np.random.Generator) -> dict[str, Any]:
    fast = int(rng.integers(5, 31))
    return {"fast": fast, "slow": int(rng.integers(fast + 10, 121)), "allow_short": bool(rng.random() < 0.5)}


def _rsi_params(rng: np.random.Generator) -> dict[str, Any]:
    lower = int(rng.integers(25, 41))
    return {
        "period": int(rng.integers(5, 15)),
        "lower": lower,
        "upper": 100 - lower,
        "allow_short": bool(rng.random() < 0.5),
    }


def _donchian_params(rng: np.random.Generator) -> dict[str, Any]:
    entry = int(rng.integers(20, 61))
    return {
        "entry": entry,
        "exit": int(rng.integers(5, entry // 2 + 1)),
        "allow_short": bool(rng.random() < 0.5),
    }


def _momentum_params(rng: np.random.Generator) -> dict[str, Any]:
    return {
        "lookback": int(rng.integers(20, 127)),
        "hold": int(rng.integers(5, 22)),
        "threshold": round(float(rng.uniform(0.0, 0.02)), 4),
        "allow_short": bool(rng.random() < 0.5),
    }


@dataclass(frozen=True)
class StrategyTemplate:
    """One trading rule: how to draw its parameters, trade it, and show it as Backtrader code."""

    key: str
    title: str
    positions: Callable[[Params], pl.Expr]
    draw_params: Callable[[np.random.Generator], dict[str, Any]]
    source: Template
    describe: Callable[[Params], str]
    defaults: Mapping[str, Any]

    def code(self, name: str, description: str, params: Params) -> str:
        values = {k: repr(v) for k, v in params.items()}
        return self.source.substitute(name=name, description=description, **values)


def _sides(params: Params) -> str:
    return "long and short" if params["allow_short"] else "long only"


TEMPLATES: dict[str, StrategyTemplate] = {
    t.key: t
    for t in (
        StrategyTemplate(
            "sma_crossover",
            "SMA crossover",
            _sma_crossover,
            _sma_params,
            SMA_CODE,
            lambda p: f"follows the {p['fast']}/{p['slow']}-bar moving-average trend, {_sides(p)}",
            {"fast": 20, "slow": 50, "allow_short": False},
        ),
        StrategyTemplate(
            "rsi_reversion",
            "RSI mean reversion",
            _rsi_reversion,
            _rsi_params,
            RSI_CODE,
            lambda p: (
                f"buys RSI({p['period']}) below {p['lower']}"
                + (f", sells above {p['upper']}" if p["allow_short"] else "")
                + ", exits at 50"
            ),
            {"period": 14, "lower": 30, "upper": 70, "allow_short": False},
        ),
        StrategyTemplate(
            "donchian_breakout",
            "Donchian breakout",
            _donchian_breakout,
            _donchian_params,
            DONCHIAN_CODE,
            lambda p: (
                f"trades {p['entry']}-bar channel breakouts, exits on {p['exit']}-bar ones, " + _sides(p)
            ),
            {"entry": 20, "exit": 10, "allow_short": False},
        ),
        StrategyTemplate(
            "ts_momentum",
            "Time-series momentum",
            _ts_momentum,
            _momentum_params,
            MOMENTUM_CODE,
            lambda p: f"holds the sign of the {p['lookback']}-bar return for {p['hold']} bars, " + _sides(p),
            {"lookback": 63, "hold": 10, "threshold": 0.0, "allow_short": False},
        ),
    )
}


@dataclass(frozen=True)
class StrategySpec:
    """A strategy as the stand-in knows it: what Lona shows plus the rule that trades it."""

    id: str
    name: str
    description: str
    template: str
    params: Mapping[str, Any]
    symbols: tuple[str, ...]
    created_at: datetime
    code: str
    version: str = "1.0.0"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "version": self.version,
            "language": "python",
            "code": self.code,
            "created_at": format_time(self.created_at),
            "template": self.template,
            "parameters": dict(self.params),
            "symbols": list(self.symbols),
        }


def _check_param(template_key: str, key: str, value: object, default: object) -> None:
    """Reject values the rule cannot trade with, before they reach a backtest."""
    where = f"parameters.{key} ({template_key})"
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ValueError(f"{where}: expected true or false, got {value!r}")
    elif isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1000:
            raise ValueError(f"{where}: expected an integer in [1, 1000], got {value!r}")
    elif isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ValueError(f"{where}: expected a number in [0, 1], got {value!r}")


def build_strategy(
    strategy_id: str,
    template_key: str,
    params: Params,
    symbols: tuple[str, ...],
    created_at: datetime,
    *,
    name: str | None = None,
    description: str | None = None,
    code: str | None = None,
    version: str = "1.0.0",
) -> StrategySpec:
    """A strategy from a template; ``code`` defaults to the template's Backtrader source."""
    template = TEMPLATES[template_key]
    unknown = sorted(set(params) - set(template.defaults))
    if unknown:
        raise ValueError(f"parameters: unknown for {template_key}: {', '.join(unknown)}")
    for key, value in params.items():
        _check_param(template_key, key, value, template.defaults[key])
    full_params = {**template.defaults, **params}
    name = name or f"{template.title} ({', '.join(symbols)})"
    description = description or template.describe(full_params)
    return StrategySpec(
        id=strategy_id,
        name=name,
        description=description,
        template=template_key,
        params=full_params,
        symbols=symbols,
        created_at=created_at,
        code=code or template.code(name, description, full_params),
        version=version,
    )


def generate_strategies(
    seed: int, symbols: tuple[str, ...], count: int, created_at: datetime
) -> list[StrategySpec]:
    """``count`` strategies cycling through the templates, each trading one or two symbols."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5717]))
    keys = list(TEMPLATES)
    strategies = []
    for index in range(count):
        key = keys[index % len(keys)]
        params = TEMPLATES[key].draw_params(rng)
        width = 1 if len(symbols) == 1 or rng.random() < 0.6 else 2
        chosen = tuple(str(s) for s in rng.choice(np.array(symbols), size=width, replace=False))
        strategies.append(
            build_strategy(
                stable_id("lona-stand-in", seed, "strategy", index),
                key,
                params,
                chosen,
                created_at,
                name=f"{TEMPLATES[key].title} #{index + 1} ({', '.join(chosen)})",
            )
        )
    return strategies


def positions(template_key: str, params: Params, bars: pl.DataFrame) -> np.ndarray:
    """Target position (-1, 0, 1) at each bar's close of one symbol's bars, oldest first."""
    expr = TEMPLATES[template_key].positions(params)
    out = bars.select(expr.fill_null(0).clip(-1, 1).cast(pl.Int8).alias("position"))
    return out["position"].to_numpy()
