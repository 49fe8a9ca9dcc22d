"""LSTM hyper-parameters, importable without torch (the Dagster code location loads them)."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class LstmConfig:
    """Hyper-parameters; logged to MLflow as the model's params."""

    window: int = 32
    hidden_size: int = 32
    num_layers: int = 1
    dropout: float = 0.0
    learning_rate: float = 1e-3
    weight_decay: float = 1e-5
    batch_size: int = 256
    max_epochs: int = 30
    patience: int = 5
    huber_delta: float = 2.0
    seed: int = 7

    def __post_init__(self) -> None:
        for name in ("window", "hidden_size", "num_layers", "batch_size", "max_epochs", "patience"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be at least 1")
        if not 0.0 < self.learning_rate < 1.0:
            raise ValueError("learning_rate: must be in (0, 1)")

    def to_params(self) -> dict[str, float | int]:
        return asdict(self)
