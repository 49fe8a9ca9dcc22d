"""The offline reviewer: backtest statistics thresholds and an AST scan of the Backtrader code.

It always runs, with or without the model, and its verdict is a floor: a strategy the rules
block stays blocked whatever an answer says (the code under review may try to talk the model
round). Findings are facts a reader can check in the code or the report.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from nexus_assets.ml.sentiment.guard import INJECTION

MIN_TRADES_BLOCK = 5
MIN_TRADES_CAUTION = 20
SHARPE_BLOCK = 4.0
SHARPE_CAUTION = 2.5
WIN_RATE_CAUTION = 0.85
MAX_LEVERAGE = 2.0
LINE_NAMES = frozenset({"close", "open", "high", "low", "volume", "data", "datas", "lines", "openinterest"})
STOP_PATTERN = re.compile(
    r"Order\.Stop|StopTrail|StopLimit|stop_loss|stoploss|trailamount|trailpercent", re.I
)


@dataclass
class RuleReview:
    verdict: str = "approve"
    findings: list[str] = field(default_factory=list)
    missing_stops: bool = False

    def add(self, severity: str, text: str) -> None:
        self.findings.append(f"{severity}: {text}")
        if severity == "block" or (severity == "caution" and self.verdict == "approve"):
            self.verdict = severity


def _touches_lines(node: ast.AST) -> bool:
    """True for expressions like ``self.data.close`` or ``self.datas[0].high``."""
    while isinstance(node, ast.Attribute | ast.Subscript | ast.Call):
        if isinstance(node, ast.Attribute) and node.attr in LINE_NAMES:
            return True
        node = node.func if isinstance(node, ast.Call) else node.value
    return False


def _positive_int(node: ast.AST) -> int | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
        return node.value if node.value > 0 else None
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.UAdd):
        return _positive_int(node.operand)
    return None


def _number(node: ast.AST) -> float | None:
    if (
        isinstance(node, ast.Constant)
        and isinstance(node.value, int | float)
        and not isinstance(node.value, bool)
    ):
        return float(node.value)
    return None


def scan_code(code: str, review: RuleReview) -> None:
    """Look-ahead reads, cheating execution, leverage, stops and text aimed at a reviewer."""
    if INJECTION.search(code):
        review.add(
            "caution", "code contains text addressed to a reviewer or model (possible prompt injection)"
        )
    try:
        tree = ast.parse(code)
    except SyntaxError as error:
        review.add("caution", f"code does not parse (line {error.lineno}): cannot be checked")
        return
    for node in ast.walk(tree):
        feeds = isinstance(node, ast.Subscript) and getattr(node.value, "attr", None) == "datas"
        if isinstance(node, ast.Subscript) and not feeds and _touches_lines(node.value):
            ahead = _positive_int(node.slice)
            if ahead is not None:
                review.add("block", f"line {node.lineno} reads a future bar ([{ahead}]): look-ahead")
        if isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if (
                name == "shift"
                and node.args
                and isinstance(node.args[0], ast.UnaryOp)
                and isinstance(node.args[0].op, ast.USub)
            ):
                review.add(
                    "block", f"line {node.lineno} shifts data backwards in time (shift(-n)): look-ahead"
                )
            if _touches_lines(node.func) and node.args and _positive_int(node.args[0]) is not None:
                review.add("block", f"line {node.lineno} delays a line by a positive amount: look-ahead")
            if name in ("set_coc", "set_coo") and node.args and getattr(node.args[0], "value", False) is True:
                review.add(
                    "caution", f"line {node.lineno} {name}(True) fills at prices not known when deciding"
                )
            for keyword in node.keywords:
                value = _number(keyword.value)
                if (
                    keyword.arg in ("cheat_on_open", "coc", "coo")
                    and getattr(keyword.value, "value", False) is True
                ):
                    review.add(
                        "caution",
                        f"line {node.lineno} {keyword.arg}=True fills at prices not known when deciding",
                    )
                if keyword.arg == "leverage" and value is not None and value > MAX_LEVERAGE:
                    review.add("caution", f"line {node.lineno} leverage {value:g} > {MAX_LEVERAGE:g}")
                if (
                    name == "order_target_percent"
                    and keyword.arg == "target"
                    and value is not None
                    and abs(value) > 1
                ):
                    review.add("caution", f"line {node.lineno} targets {value:g}x equity")
                if keyword.arg == "percents" and value is not None and value > 100 * MAX_LEVERAGE:
                    review.add("caution", f"line {node.lineno} sizes {value:g}% of equity")
    if not STOP_PATTERN.search(code):
        review.missing_stops = True
        review.findings.append("info: no stop-loss orders (exits only on signals)")


def check_stats(stats: Mapping[str, Any], review: RuleReview) -> None:
    trades, sharpe, win_rate = stats.get("total_trades"), stats.get("sharpe_ratio"), stats.get("win_rate")
    if trades is None or sharpe is None:
        review.add("caution", "no completed backtest: its statistics are unknown")
        return
    if trades < MIN_TRADES_BLOCK:
        review.add("block", f"{trades} trades: too few to trust any statistic")
    elif trades < MIN_TRADES_CAUTION:
        review.add("caution", f"{trades} trades: statistics rest on few trades (overfitting risk)")
    if not math.isfinite(sharpe) or sharpe > SHARPE_BLOCK:
        review.add(
            "block", f"Sharpe {sharpe:.2f} is implausible for a daily strategy (look-ahead or overfit)"
        )
    elif sharpe > SHARPE_CAUTION:
        review.add("caution", f"Sharpe {sharpe:.2f} is unusually high (overfitting risk)")
    if win_rate is not None and win_rate > WIN_RATE_CAUTION and trades >= MIN_TRADES_BLOCK:
        review.add("caution", f"win rate {win_rate:.0%} is unusually high")


def review_rules(code: str | None, stats: Mapping[str, Any]) -> RuleReview:
    review = RuleReview()
    check_stats(stats, review)
    if not code or not code.strip():
        review.add("caution", "no code to review")
    else:
        scan_code(code, review)
    return review
