"""Evaluation plots as PNG bytes, for MLflow artifacts and Dagster metadata alike."""

from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure


def figure_png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def png_array(png: bytes) -> np.ndarray:
    """Decoded RGBA pixels, the form ``mlflow.log_image`` takes."""
    import matplotlib.image as mpimg

    return (mpimg.imread(io.BytesIO(png), format="png") * 255).astype(np.uint8)


def png_markdown(png: bytes, title: str) -> str:
    """Markdown that embeds the image, for the Dagster UI's metadata panel."""
    return f"![{title}](data:image/png;base64,{base64.b64encode(png).decode()})"


def predicted_vs_realized(predicted: np.ndarray, realized: np.ndarray, title: str) -> Figure:
    figure, axis = plt.subplots(figsize=(5.5, 4.5))
    axis.scatter(predicted, realized, s=4, alpha=0.35)
    low, high = np.percentile(np.concatenate([predicted, realized]), [1, 99])
    axis.plot([low, high], [low, high], color="black", linewidth=0.8, linestyle="--")
    axis.set_xlabel("predicted next-bar log return")
    axis.set_ylabel("realized next-bar log return")
    axis.set_title(title)
    return figure


def forecast_vs_realized(forecast: np.ndarray, realized_sq: np.ndarray, title: str) -> Figure:
    figure, axis = plt.subplots(figsize=(8, 4))
    steps = np.arange(len(forecast))
    axis.plot(steps, np.sqrt(realized_sq), linewidth=0.5, alpha=0.5, label="|realized return|")
    axis.plot(steps, np.sqrt(forecast), linewidth=1.2, label="forecast volatility")
    axis.set_xlabel("out-of-sample origin")
    axis.set_ylabel("daily volatility")
    axis.set_title(title)
    axis.legend(loc="upper right")
    return figure


def loss_curves(train: list[float], validation: list[float], title: str) -> Figure:
    figure, axis = plt.subplots(figsize=(5.5, 3.5))
    axis.plot(range(1, len(train) + 1), train, label="train")
    axis.plot(range(1, len(validation) + 1), validation, label="validation")
    axis.set_xlabel("epoch")
    axis.set_ylabel("Huber loss (volatility units)")
    axis.set_title(title)
    axis.legend()
    return figure


def weights_bar(weights: dict[str, float], title: str) -> Figure:
    figure, axis = plt.subplots(figsize=(7, 3.5))
    names = list(weights)
    values = [weights[n] for n in names]
    axis.bar(names, values, color=["tab:green" if v >= 0 else "tab:red" for v in values])
    axis.axhline(0, color="black", linewidth=0.8)
    axis.set_ylabel("weight of equity")
    axis.set_title(title)
    axis.tick_params(axis="x", rotation=45)
    return figure


def equity_and_drawdown(curves: dict[str, np.ndarray], title: str) -> Figure:
    from nexus_assets.ml.replay.performance import drawdowns, equity_curve

    figure, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6), sharex=True, height_ratios=(2, 1))
    for name, returns in curves.items():
        top.plot(equity_curve(returns), label=name, linewidth=1.0)
        # From the starting capital: a loss on the first bars is a drawdown too.
        bottom.plot(drawdowns(returns), label=name, linewidth=0.8)
    top.set_ylabel("equity (start = 1)")
    top.set_title(title)
    top.legend(loc="upper left")
    bottom.set_ylabel("drawdown")
    bottom.set_xlabel("bar")
    return figure


def live_ic(curves: dict[str, tuple[list, np.ndarray, np.ndarray]], title: str) -> Figure:
    """Rolling live IC per version (solid) beside momentum's on the same rows (dashed)."""
    figure, axis = plt.subplots(figsize=(7.5, 3.8))
    for version, (times, ic, baseline) in curves.items():
        (line,) = axis.plot(times, ic, linewidth=1.2, label=f"v{version}")
        axis.plot(
            times,
            baseline,
            linewidth=0.9,
            linestyle="--",
            color=line.get_color(),
            label=f"v{version} momentum",
        )
    axis.axhline(0.0, color="black", linewidth=0.6)
    axis.set_ylabel("rolling IC")
    axis.set_title(title)
    axis.legend(fontsize=7)
    figure.autofmt_xdate()
    return figure


def drift_bars(psi: dict[str, float], warn: float, fail: float, title: str) -> Figure:
    """PSI per feature with the warn and fail lines."""
    names = sorted(psi, key=psi.get)
    figure, axis = plt.subplots(figsize=(6.5, max(2.5, 0.28 * len(names))))
    axis.barh(names, [psi[n] for n in names], color="tab:blue")
    axis.axvline(warn, color="tab:orange", linestyle="--", linewidth=0.9, label=f"warn {warn:g}")
    axis.axvline(fail, color="tab:red", linestyle="--", linewidth=0.9, label=f"fail {fail:g}")
    axis.set_xlabel("PSI against the training window")
    axis.set_title(title)
    axis.legend(fontsize=7)
    return figure
