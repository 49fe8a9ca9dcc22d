"""Backtrader source shown as each stand-in strategy's ``code``.

Lona serves strategies as Backtrader Python; these templates render the same rules that
``nexus_assets.sim.strategies`` trades, with the strategy's parameters filled in, so that a
reader (or an LLM reviewer) sees what the strategy does.
"""

from __future__ import annotations

from string import Template

SMA_CODE = Template('''"""$name: $description"""
import backtrader as bt


class SmaCrossover(bt.Strategy):
    params = (("fast", $fast), ("slow", $slow), ("allow_short", $allow_short), ("stake", 100))

    def __init__(self):
        fast = bt.indicators.SMA(self.data.close, period=self.p.fast)
        slow = bt.indicators.SMA(self.data.close, period=self.p.slow)
        self.cross = bt.indicators.CrossOver(fast, slow)

    def next(self):
        if self.cross > 0:
            self.order_target_size(target=self.p.stake)
        elif self.cross < 0:
            self.order_target_size(target=-self.p.stake if self.p.allow_short else 0)
''')

RSI_CODE = Template('''"""$name: $description"""
import backtrader as bt


class RsiReversion(bt.Strategy):
    params = (
        ("period", $period),
        ("lower", $lower),
        ("upper", $upper),
        ("allow_short", $allow_short),
        ("stake", 100),
    )

    def __init__(self):
        self.rsi = bt.indicators.RSI(self.data.close, period=self.p.period)

    def next(self):
        size = self.position.size
        if self.rsi < self.p.lower:
            self.order_target_size(target=self.p.stake)
        elif self.p.allow_short and self.rsi > self.p.upper:
            self.order_target_size(target=-self.p.stake)
        elif (size > 0 and self.rsi >= 50) or (size < 0 and self.rsi <= 50):
            self.order_target_size(target=0)
''')

DONCHIAN_CODE = Template('''"""$name: $description"""
import backtrader as bt


class DonchianBreakout(bt.Strategy):
    params = (("entry", $entry), ("exit", $exit), ("allow_short", $allow_short), ("stake", 100))

    def __init__(self):
        self.upper_in = bt.indicators.Highest(self.data.high(-1), period=self.p.entry)
        self.lower_in = bt.indicators.Lowest(self.data.low(-1), period=self.p.entry)
        self.upper_out = bt.indicators.Highest(self.data.high(-1), period=self.p.exit)
        self.lower_out = bt.indicators.Lowest(self.data.low(-1), period=self.p.exit)

    def next(self):
        close, size = self.data.close[0], self.position.size
        if close > self.upper_in[0]:
            self.order_target_size(target=self.p.stake)
        elif self.p.allow_short and close < self.lower_in[0]:
            self.order_target_size(target=-self.p.stake)
        elif (size > 0 and close < self.lower_out[0]) or (size < 0 and close > self.upper_out[0]):
            self.order_target_size(target=0)
''')

MOMENTUM_CODE = Template('''"""$name: $description"""
import backtrader as bt


class TimeSeriesMomentum(bt.Strategy):
    params = (
        ("lookback", $lookback),
        ("hold", $hold),
        ("threshold", $threshold),
        ("allow_short", $allow_short),
        ("stake", 100),
    )

    def __init__(self):
        self.change = bt.indicators.RateOfChange(self.data.close, period=self.p.lookback)

    def next(self):
        if len(self) % self.p.hold != 0:
            return
        if self.change[0] > self.p.threshold:
            self.order_target_size(target=self.p.stake)
        elif self.change[0] < -self.p.threshold:
            self.order_target_size(target=-self.p.stake if self.p.allow_short else 0)
        else:
            self.order_target_size(target=0)
''')
