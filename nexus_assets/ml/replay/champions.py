"""Champions retrained walk-forward: at each retrain bar, fitted on what was known at its close.

At retrain bar T (every ``retrain_every`` bars from the first decision bar), the predictor, the
volatility model and the anomaly detector are fitted on the trailing ``train_bars`` bars up to
and including T, keeping only rows whose target is known at T's close (a window's target is
the next bar's return, so the window ending at T itself is left out). The models then speak for
every bar from T to the next retrain, as a champion does between two training runs.

Each piece is the production one: ``build_sequences`` and ``train_predictor`` (the predictor is
exported to ONNX and predictions come from the artifact the service would load),
``volatility_inputs`` and ``fit_volatility_model``, ``fit_anomaly_detector``. Only the training
budget is the replay's own (fewer epochs, a trailing window), and is reported.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from nexus_assets.ml.anomaly.fit import fit_anomaly_detector
from nexus_assets.ml.anomaly.model import AnomalyDetector
from nexus_assets.ml.anomaly.rule_config import RuleConfig
from nexus_assets.ml.features import FEATURE_COLUMNS
from nexus_assets.ml.predictor.config import LstmConfig
from nexus_assets.ml.predictor.sequences import Sequences, build_sequences
from nexus_assets.ml.replay.config import RetrainConfig
from nexus_assets.ml.volatility.inputs import INPUT_COLUMNS, volatility_inputs
from nexus_assets.ml.volatility.model import VolatilityModel, fit_volatility_model

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Retrain:
    """One retrain, for the report."""

    bar: int
    trained_until: str
    windows: int
    epochs: int
    seconds: float


@dataclass
class ModelViews:
    """What the champions of the day said, per calendar row and symbol (NaN: nothing to say)."""

    predicted: np.ndarray
    volatility: np.ndarray
    """Per-bar standard deviation forecast."""
    features: np.ndarray
    """[calendar, symbols, FEATURE_COLUMNS]: the rows the anomaly detector scores."""
    models: list[tuple[int, DayChampions]]
    """``(first calendar row they speak for, the champions)``, ascending."""
    retrains: list[Retrain]
    starts: list[int] = field(init=False)
    """The first row each champion set speaks for (the retrain bars)."""

    def __post_init__(self) -> None:
        self.starts = [start for start, _ in self.models]

    def champions_at(self, row: int) -> DayChampions:
        """The champions of the day: those of the newest retrain at or before ``row``."""
        return self.models[int(np.searchsorted(self.starts, row, side="right")) - 1][1]

    def detector_at(self, row: int) -> AnomalyDetector:
        return self.champions_at(row).anomaly


@dataclass(frozen=True)
class DayChampions:
    """One retrain's three models, in the forms the decision service serves (``registry.Champions``)."""

    predictor: Any
    """The ONNX artifact's session (``OnnxPredictor``)."""
    volatility: VolatilityModel
    anomaly: AnomalyDetector


def _cells(frame: pl.DataFrame, calendar: np.ndarray, symbols: list[str]) -> tuple[np.ndarray, np.ndarray]:
    rows = np.searchsorted(calendar, frame["timestamp"].to_numpy())
    index = {symbol: i for i, symbol in enumerate(symbols)}
    return rows, frame["symbol"].replace_strict(index, return_dtype=pl.Int64).to_numpy()


def _sequence_cells(
    data: Sequences, calendar: np.ndarray, symbols: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    index = {symbol: i for i, symbol in enumerate(symbols)}
    return np.searchsorted(calendar, data.timestamp), np.array([index[s] for s in data.symbol])


def _fit_predictor(train: Sequences, config: LstmConfig, workdir: Path):  # noqa: ANN202 (ONNX session)
    """The LSTM on ``train`` (its last fifth in time validates), as the ONNX artifact serving loads."""
    from nexus_assets.ml.predictor.lstm import train_predictor
    from nexus_assets.ml.predictor.onnx_export import OnnxPredictor, check_parity, export_onnx

    cut = np.quantile(train.timestamp.astype("int64"), 0.8)
    late = train.timestamp.astype("int64") > cut
    trained = train_predictor(train.select(~late), train.select(late), config)
    path = workdir / "predictor.onnx"
    export_onnx(trained.model, path, train.x[:64])
    artifact = OnnxPredictor(path, threads=2)
    check_parity(trained.model, artifact, train.x[:256])
    return artifact, len(trained.history.train_loss)


@dataclass
class _Canvas:
    """The calendar-by-symbol arrays the champions' views are written into."""

    calendar: pl.Series
    stamps: np.ndarray
    symbols: list[str]
    features: pl.DataFrame
    inputs: pl.DataFrame
    input_rows: np.ndarray
    input_columns: np.ndarray
    predicted: np.ndarray
    volatility: np.ndarray
    matrix: np.ndarray

    @classmethod
    def of(
        cls, bars: pl.DataFrame, features: pl.DataFrame, calendar: pl.Series, symbols: list[str]
    ) -> _Canvas:
        stamps = calendar.to_numpy()
        shape = (len(calendar), len(symbols))
        matrix = np.full((*shape, len(FEATURE_COLUMNS)), np.nan)
        rows, columns = _cells(features, stamps, symbols)
        matrix[rows, columns] = features.select(FEATURE_COLUMNS).to_numpy()
        inputs = volatility_inputs(bars)
        input_rows, input_columns = _cells(inputs, stamps, symbols)
        return cls(
            calendar, stamps, symbols, features, inputs, input_rows, input_columns,
            np.full(shape, np.nan), np.full(shape, np.nan), matrix,
        )  # fmt: skip

    def speak(self, champions: DayChampions, start: int, end: int) -> None:
        """Write what ``champions`` say for calendar rows ``start`` to ``end - 1``."""
        if champions.predictor is None:
            self.predicted[start:end] = 0.0
        else:
            self._predict(champions.predictor, start, end)
        speaks = (self.input_rows >= start) & (self.input_rows < end)
        arrays = {name: self.inputs[name].to_numpy()[speaks] for name in INPUT_COLUMNS}
        forecast = np.sqrt(champions.volatility.forecast_arrays(arrays))
        self.volatility[self.input_rows[speaks], self.input_columns[speaks]] = forecast

    def _predict(self, predictor: Any, start: int, end: int) -> None:
        stamps, calendar, window = self.stamps, self.calendar, predictor.window
        calendar_start, calendar_end = calendar[max(start - 2 * window, 0)], calendar[end - 1]
        ahead = self.features.filter(pl.col("timestamp").is_between(calendar_start, calendar_end))
        upcoming = build_sequences(ahead, window, with_target=False)
        upcoming = upcoming.select(upcoming.timestamp >= stamps[start])
        if len(upcoming):
            cell_rows, cell_columns = _sequence_cells(upcoming, stamps, self.symbols)
            self.predicted[cell_rows, cell_columns] = predictor.predict(upcoming.x)

    def context_models(
        self, start: int, train_bars: int, rules: RuleConfig, trees: int
    ) -> tuple[VolatilityModel, AnomalyDetector]:
        """The volatility model and anomaly detector fitted on the ``train_bars`` before ``start``."""
        calendar = self.calendar
        known = self.features.filter(
            pl.col("timestamp").is_between(calendar[max(start - train_bars, 0)], calendar[start])
        )
        # The row at ``start`` has its target in the future (the next bar's squared return): out.
        past = (self.input_rows < start) & (self.input_rows >= max(start - train_bars, 0))
        model = fit_volatility_model(self.inputs.filter(pl.Series(past)))
        return model, fit_anomaly_detector(known, n_estimators=trees, rules=rules)

    def views(self, models: list[tuple[int, DayChampions]], retrains: list[Retrain]) -> ModelViews:
        return ModelViews(self.predicted, self.volatility, self.matrix, models, retrains)


def walk_forward_views(
    bars: pl.DataFrame,
    features: pl.DataFrame,
    calendar: pl.Series,
    symbols: list[str],
    first_bar: int,
    config: RetrainConfig,
    *,
    rules: RuleConfig,
    progress: Progress | None = None,
) -> ModelViews:
    """Retrain on schedule from ``first_bar`` and collect every model's view until the last bar."""
    canvas = _Canvas.of(bars, features, calendar, symbols)
    n_rows, window = len(calendar), config.lstm.window
    models: list[tuple[int, DayChampions]] = []
    retrains: list[Retrain] = []
    starts = list(range(first_bar, n_rows, config.retrain_every))
    with tempfile.TemporaryDirectory() as folder:
        for k, start in enumerate(starts):
            began = time.perf_counter()
            end = starts[k + 1] if k + 1 < len(starts) else n_rows
            since = calendar[max(start - config.train_bars, 0)]
            known = features.filter(pl.col("timestamp").is_between(since, calendar[start]))
            artifact, epochs = _fit_predictor(build_sequences(known, window), config.lstm, Path(folder))
            volatility, detector = canvas.context_models(
                start, config.train_bars, rules, config.anomaly_trees
            )
            champions = DayChampions(artifact, volatility, detector)
            canvas.speak(champions, start, end)
            models.append((start, champions))
            seconds = time.perf_counter() - began
            retrains.append(Retrain(start, str(calendar[start]), len(known), epochs, seconds))
            if progress is not None:
                progress(f"retrain {k + 1}/{len(starts)} at {calendar[start]}: {seconds:.1f} s")
    return canvas.views(models, retrains)


@dataclass(frozen=True)
class Contender:
    """One side of the champion gate's replay: the model under judgement, the rest shared."""

    predictor: Any = None
    """An ``OnnxPredictor``; None: no predictor at all (a zero expected return everywhere)."""
    volatility: VolatilityModel | None = None
    """None: the shared volatility model fitted on the bars before the held-out part."""


def held_out_views(
    bars: pl.DataFrame,
    features: pl.DataFrame,
    calendar: pl.Series,
    symbols: list[str],
    first_bar: int,
    contenders: dict[str, Contender],
    *,
    train_bars: int,
    rules: RuleConfig,
    anomaly_trees: int = 300,
) -> dict[str, ModelViews]:
    """Per contender, the views from ``first_bar`` on beside one shared detector (and volatility model).

    The champion gate's replay: candidate and champion speak for the same held-out bars beside
    the same anomaly detector and, unless the volatility model is the one judged, the same
    volatility model, both fitted on the ``train_bars`` bars before; only the judged model differs.
    """
    shared = _Canvas.of(bars, features, calendar, symbols)
    volatility, detector = shared.context_models(first_bar, train_bars, rules, anomaly_trees)
    views = {}
    for name, contender in contenders.items():
        canvas = replace(
            shared,
            predicted=np.full_like(shared.predicted, np.nan),
            volatility=np.full_like(shared.volatility, np.nan),
        )
        champions = DayChampions(contender.predictor, contender.volatility or volatility, detector)
        canvas.speak(champions, first_bar, len(calendar))
        views[name] = canvas.views([(first_bar, champions)], [])
    return views


def closes_only_rules(rules: RuleConfig) -> RuleConfig:
    """Closes-only data has no volume: the zero-volume rule would halt every symbol."""
    return replace(rules, zero_volume_run=0)
