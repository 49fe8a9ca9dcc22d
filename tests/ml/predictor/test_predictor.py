"""Sequences, LSTM training and the ONNX serving artifact."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from nexus_assets.ml.features import compute_features
from nexus_assets.ml.predictor.config import LstmConfig
from nexus_assets.ml.predictor.evaluation import prediction_metrics, walk_forward_folds
from nexus_assets.ml.predictor.lstm import TrainingDivergedError, predict, train_predictor
from nexus_assets.ml.predictor.onnx_export import OnnxPredictor, check_parity, export_onnx
from nexus_assets.ml.predictor.sequences import SEQUENCE_FEATURES, build_sequences
from nexus_assets.sim.market import MarketSimConfig, simulate_market

SMALL = LstmConfig(window=16, hidden_size=8, max_epochs=3, patience=2)


@pytest.fixture(scope="module")
def features() -> pl.DataFrame:
    bars = simulate_market(MarketSimConfig(symbols=("A", "B", "C", "D"), n_bars=400, seed=2))
    return compute_features(bars)


def test_windows_hold_past_rows_and_the_next_bar_return(features):
    data = build_sequences(features, 16)
    a = features.filter(pl.col("symbol") == "A")
    first_a = np.flatnonzero(data.symbol == "A")[0]
    assert np.array_equal(data.x[first_a], a.head(16).select(SEQUENCE_FEATURES).to_numpy().astype(np.float32))
    assert data.target[first_a] == np.float32(a["ret_1"][16])
    assert data.timestamp[first_a] == a["timestamp"].to_numpy()[15]
    per_symbol = a.height - 16  # the window ending at the last row has no next return
    assert int((data.symbol == "A").sum()) == per_symbol
    everything = build_sequences(features, 16, with_target=False)
    assert len(everything) == len(data) + 4
    assert np.isnan(everything.target).sum() == 4


def test_folds_are_time_ordered_and_disjoint(features):
    data = build_sequences(features, 16)
    for fold in walk_forward_folds(data, folds=3):
        assert fold.train.timestamp.max() < fold.validation.timestamp.min()
        assert fold.validation.timestamp.max() < fold.test.timestamp.min()


def test_training_is_deterministic_and_onnx_matches_eager(features, tmp_path):
    fold = walk_forward_folds(build_sequences(features, 16), folds=1)[0]
    one = train_predictor(fold.train, fold.validation, SMALL)
    two = train_predictor(fold.train, fold.validation, SMALL)
    assert np.array_equal(predict(one.model, fold.test.x), predict(two.model, fold.test.x))
    assert one.history.validation_loss == two.history.validation_loss
    path = tmp_path / "p.onnx"
    export_onnx(one.model, path, fold.test.x)
    artifact = OnnxPredictor(path)
    assert (artifact.window, artifact.n_features) == (16, len(SEQUENCE_FEATURES))
    assert check_parity(one.model, artifact, fold.test.x) <= 1e-5
    single = artifact.predict(fold.test.x[:1])
    assert single.shape == (1,)
    assert abs(float(single[0]) - float(predict(one.model, fold.test.x[:1])[0])) <= 1e-5


def test_early_stopping_keeps_the_best_epoch(features):
    fold = walk_forward_folds(build_sequences(features, 16), folds=1)[0]
    trained = train_predictor(
        fold.train, fold.validation, LstmConfig(window=16, hidden_size=8, max_epochs=40, patience=2)
    )
    history = trained.history
    best = min(history.validation_loss)
    assert history.validation_loss[history.best_epoch - 1] == best
    assert history.stopped_early
    assert len(history.validation_loss) == history.best_epoch + 2


def test_absurd_targets_make_training_fail_clearly(features):
    blown = features.with_columns(pl.col("ret_1") * 1e36)
    fold = walk_forward_folds(build_sequences(blown, 16), folds=1)[0]
    with pytest.raises(TrainingDivergedError, match="training diverged: loss is"):
        train_predictor(fold.train, fold.validation, SMALL)


def test_nan_features_are_refused_with_the_reason(features):
    fold = walk_forward_folds(build_sequences(features, 16), folds=1)[0]
    fold.train.x[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="training data: features or targets contain NaN"):
        train_predictor(fold.train, fold.validation, SMALL)


def test_too_little_history_is_named(features):
    with pytest.raises(ValueError, match="features: no symbol has the 500 rows one window needs"):
        build_sequences(features, 500)
    short = build_sequences(features.group_by("symbol").head(20), 16)
    with pytest.raises(ValueError, match="too few for 3 folds"):
        walk_forward_folds(short, folds=3)


def test_metrics_know_the_zero_and_perfect_forecasts():
    realized = np.array([0.01, -0.02, 0.03, -0.01, 0.02])
    perfect = prediction_metrics(realized, realized)
    assert perfect["ic"] == pytest.approx(1.0)
    assert perfect["hit_rate"] == 1.0
    assert perfect["r2_vs_zero"] == pytest.approx(1.0)
    zero = prediction_metrics(np.zeros(5), realized)
    assert zero["ic"] == 0.0
    assert zero["r2_vs_zero"] == 0.0
