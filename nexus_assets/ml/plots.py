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
