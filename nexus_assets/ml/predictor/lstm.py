"""The LSTM return predictor: model, deterministic training with early stopping.

The network sees raw feature windows; standardization and the volatility scaling live inside
the module, so the exported artifact takes exactly what the feature code produces and returns
a next-bar log return, with nothing to re-implement in serving. It is trained on
volatility-normalized returns (return / rv_21), which makes symbols with different volatility
comparable and the loss well conditioned.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from nexus_assets.ml.predictor.config import LstmConfig
from nexus_assets.ml.predictor.sequences import SEQUENCE_FEATURES, VOL_FEATURE, Sequences

VOL_FLOOR = 1e-4
"""Smallest volatility used for scaling (0.01% per bar): constant prices must not divide by 0."""


class ReturnPredictor(nn.Module):
    """Raw feature windows [batch, window, features] -> predicted next-bar log return [batch]."""

    def __init__(
        self,
        n_features: int,
        config: LstmConfig,
        feature_mean: np.ndarray,
        feature_std: np.ndarray,
        vol_index: int,
    ) -> None:
        super().__init__()
        self.vol_index = vol_index
        self.lstm = nn.LSTM(
            n_features,
            config.hidden_size,
            num_layers=config.num_layers,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
            batch_first=True,
        )
        self.head = nn.Linear(config.hidden_size, 1)
        self.register_buffer("feature_mean", torch.as_tensor(feature_mean, dtype=torch.float32))
        self.register_buffer("feature_std", torch.as_tensor(feature_std, dtype=torch.float32))

    def normalized(self, x: torch.Tensor) -> torch.Tensor:
        """Prediction in units of the window's last volatility (what the loss sees)."""
        scaled = (x - self.feature_mean) / self.feature_std
        hidden, _ = self.lstm(scaled)
        return self.head(hidden[:, -1, :]).squeeze(-1)

    def volatility(self, x: torch.Tensor) -> torch.Tensor:
        return torch.clamp(x[:, -1, self.vol_index], min=VOL_FLOOR)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.normalized(x) * self.volatility(x)


class TrainingDivergedError(RuntimeError):
    """The loss became NaN or infinite: nothing trained this way may be registered."""


@dataclass
class TrainingHistory:
    train_loss: list[float] = field(default_factory=list)
    validation_loss: list[float] = field(default_factory=list)
    best_epoch: int = 0
    stopped_early: bool = False


@dataclass
class TrainedPredictor:
    model: ReturnPredictor
    config: LstmConfig
    history: TrainingHistory


EpochCallback = Callable[[int, float, float], None]


def _standardization(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    flat = x.reshape(-1, x.shape[-1]).astype(np.float64)
    mean = flat.mean(axis=0)
    std = flat.std(axis=0)
    std[std < 1e-12] = 1.0
    return mean.astype(np.float32), std.astype(np.float32)


def _loss(model: ReturnPredictor, x: torch.Tensor, target: torch.Tensor, delta: float) -> torch.Tensor:
    normalized_target = target / model.volatility(x)
    return nn.functional.huber_loss(model.normalized(x), normalized_target, delta=delta)


def _evaluate_loss(model: ReturnPredictor, data: Sequences, config: LstmConfig) -> float:
    model.eval()
    with torch.inference_mode():
        x, y = torch.from_numpy(data.x), torch.from_numpy(data.target)
        total = 0.0
        for start in range(0, len(y), 4096):
            batch = slice(start, start + 4096)
            total += float(_loss(model, x[batch], y[batch], config.huber_delta)) * len(y[batch])
    return total / max(len(y), 1)


def train_predictor(
    train: Sequences,
    validation: Sequences,
    config: LstmConfig,
    on_epoch: EpochCallback | None = None,
) -> TrainedPredictor:
    """Fit with Adam; keep the weights of the best validation epoch; stop after ``patience``.

    Deterministic for a given seed and data (single-process data order from a seeded generator).
    """
    if len(train) == 0 or len(validation) == 0:
        raise ValueError("training data: train and validation windows must both be non-empty")
    if not (np.isfinite(train.x).all() and np.isfinite(train.target).all()):
        raise ValueError("training data: features or targets contain NaN or infinity")
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    mean, std = _standardization(train.x)
    model = ReturnPredictor(
        len(SEQUENCE_FEATURES), config, mean, std, vol_index=SEQUENCE_FEATURES.index(VOL_FEATURE)
    )
    optimizer = torch.optim.Adam(
        model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    x, y = torch.from_numpy(train.x), torch.from_numpy(train.target)
    history = TrainingHistory()
    best_loss, best_state, stale = math.inf, None, 0
    for epoch in range(1, config.max_epochs + 1):
        model.train()
        order = torch.randperm(len(y), generator=generator)
        running, seen = 0.0, 0
        for start in range(0, len(y), config.batch_size):
            batch = order[start : start + config.batch_size]
            optimizer.zero_grad()
            loss = _loss(model, x[batch], y[batch], config.huber_delta)
            if not torch.isfinite(loss):
                raise TrainingDivergedError(
                    f"training diverged: loss is {float(loss.detach())} at epoch {epoch}"
                )
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            running += float(loss.detach()) * len(batch)
            seen += len(batch)
        train_loss = running / seen
        validation_loss = _evaluate_loss(model, validation, config)
        if not math.isfinite(validation_loss):
            raise TrainingDivergedError(
                f"training diverged: validation loss is {validation_loss} at epoch {epoch}"
            )
        history.train_loss.append(train_loss)
        history.validation_loss.append(validation_loss)
        if on_epoch is not None:
            on_epoch(epoch, train_loss, validation_loss)
        if validation_loss < best_loss - 1e-7:
            best_loss, stale, history.best_epoch = validation_loss, 0, epoch
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            stale += 1
            if stale >= config.patience:
                history.stopped_early = True
                break
    assert best_state is not None
    model.load_state_dict(best_state)
    model.eval()
    return TrainedPredictor(model=model, config=config, history=history)


def predict(model: nn.Module, x: np.ndarray, batch_size: int = 4096) -> np.ndarray:
    """Eager predictions for many windows (evaluation; serving uses the ONNX artifact)."""
    model.eval()
    outputs = []
    with torch.inference_mode():
        for start in range(0, len(x), batch_size):
            outputs.append(model(torch.from_numpy(x[start : start + batch_size])).numpy())
    return np.concatenate(outputs) if outputs else np.empty(0, dtype=np.float32)
