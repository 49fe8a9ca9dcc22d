"""`nexus backtest` on real data, as a user runs it: the served path replayed walk-forward.

Data sets (both ship with their libraries, nothing is downloaded):
- ``sp500``: skfolio's 20 S&P 500 stocks, closes only, 8,313 days (1990-2022);
- ``spx``: arch's S&P 500 index, daily OHLC and volume, 5,031 days (1999-2018), as a long table.

Signals: the reference strategies' (no ``--signals``), strengths from each strategy's record so
far. Costs 5 bps per unit of turnover, yearly retraining on the trailing five years. Prints the
wall time and the time per retrain, every row of the report (ablations included), decisions by
action and reason, and the acceptance checks: the policy's Sharpe at least 1.05x the better of
raw and volatility-targeted execution, with a drawdown per unit of volatility no worse than theirs.
Run: ``.venv/bin/python benchmarks/backtest.py [sp500|spx ...]``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

NEXUS = str(Path(sys.executable).parent / "nexus")
COLUMNS = (
    ("annual_return", "ann.ret", 8, 3),
    ("annual_volatility", "ann.vol", 8, 3),
    ("sharpe", "Sharpe", 7, 2),
    ("sortino", "Sortino", 8, 2),
    ("max_drawdown", "max DD", 8, 3),
    ("drawdown_per_volatility", "DD/vol", 7, 2),
    ("annual_turnover", "turnover", 9, 1),
)


def _sp500(folder: Path) -> Path:
    from skfolio.datasets import load_sp500_dataset

    path = folder / "sp500.csv"
    load_sp500_dataset().rename_axis("date").to_csv(path)
    return path


def _spx(folder: Path) -> Path:
    import arch.data.sp500

    raw = arch.data.sp500.load()
    frame = pd.DataFrame(
        {
            "symbol": "SPX",
            "timestamp": raw.index.strftime("%Y-%m-%d"),
            "open": raw["Open"],
            "high": raw["High"],
            "low": raw["Low"],
            "close": raw["Close"],
            "volume": raw["Volume"],
        }
    )
    path = folder / "spx.csv"
    frame.to_csv(path, index=False)
    return path


DATASETS = {"sp500": _sp500, "spx": _spx}


def _table(metrics: dict[str, dict[str, float]]) -> None:
    print(f"{'row':<22}" + "".join(f"{label:>{width}}" for _, label, width, _ in COLUMNS))
    for name, m in metrics.items():
        print(f"{name:<22}" + "".join(f"{m[key]:>{width}.{digits}f}" for key, _, width, digits in COLUMNS))


def _checks(metrics: dict[str, dict[str, float]]) -> None:
    policy = metrics["policy"]
    best = max(("raw", "volatility_targeted"), key=lambda name: metrics[name]["sharpe"])
    ratio = policy["sharpe"] / metrics[best]["sharpe"] if metrics[best]["sharpe"] > 0 else float("nan")
    worst_dd = max(metrics[name]["drawdown_per_volatility"] for name in ("raw", "volatility_targeted"))
    print(f"policy Sharpe / {best}'s: {ratio:.3f} (target >= 1.05): {'yes' if ratio >= 1.05 else 'NO'}")
    print(
        f"policy drawdown per volatility {policy['drawdown_per_volatility']:.2f} vs the worse of raw and "
        f"volatility-targeted {worst_dd:.2f}: {'no worse' if policy['drawdown_per_volatility'] <= worst_dd else 'WORSE'}"
    )


def run(name: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        source, out = DATASETS[name](Path(folder)), Path(folder) / "weights.csv"
        start = time.perf_counter()
        done = subprocess.run(
            [NEXUS, "backtest", "--prices", str(source), "--out", str(out), "--cost-bps", "5"],
            capture_output=True,
            text=True,
            check=False,
        )
        elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{name}: nexus backtest failed: {done.stderr.strip().splitlines()[-1]}")
    report = json.loads(done.stdout)
    retrains = report["retrains"]
    print(f"== {name}: wall time {elapsed:.0f} s, {report['decision_bars']} decision bars")
    print(
        f"retrains: {retrains['count']}, {retrains['seconds_total']:.0f} s in all, "
        f"{retrains['seconds_mean']:.1f} s each"
    )
    _table(report["metrics"])
    _checks(report["metrics"])
    print(f"policy decisions by action: {report['decisions_by_action']['policy']}")
    print(f"policy decisions by reason: {report['decisions_by_reason']['policy']}")
    print(f"drawdown resets: {report['drawdown_resets']}; optimizer: {report['optimizer']}")
    print(f"meta-labeling: {report['meta_labeling']}")
    for warning in report["warnings"]:
        print(f"warning: {warning}")


def main() -> None:
    for name in sys.argv[1:] or list(DATASETS):
        run(name)


if __name__ == "__main__":
    main()
