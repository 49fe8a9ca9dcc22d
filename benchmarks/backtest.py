"""`nexus backtest` on real data: skfolio's S&P 500 constituents (20 stocks x 8,313 days).

Writes the prices to a CSV, runs the command as a user would (a subprocess, timed), and prints
the out-of-sample metrics of the policy, 1/N, buy-and-hold and inverse volatility at a 10%
volatility target, all with the same 5 bps costs, plus the acceptance checks: the policy's
Sharpe above both 1/N's and inverse volatility's, and its max drawdown at most half of 1/N's.
Run: `.venv/bin/python benchmarks/backtest.py`.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from skfolio.datasets import load_sp500_dataset

NEXUS = str(Path(sys.executable).parent / "nexus")
ROWS = ("policy", "equal_weight", "inverse_volatility", "buy_and_hold")


def main() -> None:
    prices = load_sp500_dataset()
    with tempfile.TemporaryDirectory() as folder:
        source, out = Path(folder) / "sp500.csv", Path(folder) / "weights.csv"
        prices.rename_axis("date").to_csv(source)
        start = time.perf_counter()
        run = subprocess.run(
            [NEXUS, "backtest", "--prices", str(source), "--out", str(out), "--cost-bps", "5"],
            capture_output=True,
            text=True,
            check=True,
        )
        elapsed = time.perf_counter() - start
        written = sum(1 for _ in out.open()) - 1
    report = json.loads(run.stdout)
    metrics = report["metrics"]
    print(
        f"data: {prices.shape[1]} symbols x {prices.shape[0]} days ({prices.index[0].date()} to {prices.index[-1].date()})"
    )
    print(f"nexus backtest wall time: {elapsed:.1f} s, {written} weight rows written")
    header = f"{'strategy':<20}{'ann.ret':>9}{'ann.vol':>9}{'Sharpe':>8}{'Sortino':>9}{'max DD':>9}{'turnover':>10}{'hit':>7}"
    print(header)
    for name in ROWS:
        m = metrics[name]
        print(
            f"{name:<20}{m['annual_return']:>9.3f}{m['annual_volatility']:>9.3f}{m['sharpe']:>8.2f}"
            f"{m['sortino']:>9.2f}{m['max_drawdown']:>9.3f}{m['annual_turnover']:>10.2f}{m['hit_rate']:>7.3f}"
        )
    policy, equal, inverse = metrics["policy"], metrics["equal_weight"], metrics["inverse_volatility"]
    checks = {
        "Sharpe above 1/N": policy["sharpe"] > equal["sharpe"],
        "Sharpe above inverse volatility": policy["sharpe"] > inverse["sharpe"],
        "max drawdown at most half of 1/N's": abs(policy["max_drawdown"]) <= 0.5 * abs(equal["max_drawdown"]),
    }
    for label, ok in checks.items():
        print(f"{label}: {'yes' if ok else 'NO'}")
    print(f"reason counts: {report['reason_counts']}")


if __name__ == "__main__":
    main()
