"""The anomaly detector end to end: fit, calibrate, combine with rules, persist, evaluate."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta

import numpy as np
import polars as pl
import pytest

from nexus_assets.ml.anomaly import (
    BASELINE_THRESHOLD,
    DEFAULT_THRESHOLD,
    MIN_TRAINING_ROWS,
    WARNING,
    AnomalyDetector,
    baseline_scores,
    evaluate_anomaly_detector,
    fit_anomaly_detector,
)
from nexus_assets.ml.anomaly.calibration import ScoreCalibration
from nexus_assets.ml.anomaly.evaluation import roc_auc
from nexus_assets.ml.anomaly.inputs import (
    RANGE_FLOOR,
    REQUIRED_FEATURES,
    VOL_FLOOR,
    feature_matrix,
    feature_row,
    model_input_row,
    model_inputs,
)
from nexus_assets.ml.anomaly.rules import feature_rule_masks
from nexus_assets.ml.features import LOOKBACK_BARS, compute_features, features_for_last_bar
from nexus_assets.sim.market import MarketSimConfig, simulate_market

SYMBOLS = ("AAA", "BBB", "CCC", "DDD", "EEE", "FFF")


@pytest.fixture(scope="module")
def bars() -> pl.DataFrame:
    return simulate_market(MarketSimConfig(symbols=SYMBOLS, n_bars=900, seed=17))


@pytest.fixture(scope="module")
def split(bars: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Training bars, and holdout bars that start a lookback early so every holdout bar has features."""
    times = bars["timestamp"].unique().sort()
    cut = times[650]
    warmup_start = times[650 - LOOKBACK_BARS]
    return bars.filter(pl.col("timestamp") <= cut), bars.filter(pl.col("timestamp") > warmup_start)


@pytest.fixture(scope="module")
def train_features(split: tuple[pl.DataFrame, pl.DataFrame]) -> pl.DataFrame:
    return compute_features(split[0])


@pytest.fixture(scope="module")
def detector(train_features: pl.DataFrame) -> AnomalyDetector:
    return fit_anomaly_detector(train_features, seed=3)


@pytest.fixture(scope="module")
def window(bars: pl.DataFrame) -> pl.DataFrame:
    return bars.filter(pl.col("symbol") == "BBB").tail(LOOKBACK_BARS + 10)


def test_fit_is_deterministic_and_records_its_training(train_features, detector):
    again = fit_anomaly_detector(train_features, seed=3)
    np.testing.assert_array_equal(again.model_scores(train_features), detector.model_scores(train_features))
    other = fit_anomaly_detector(train_features, seed=4)
    assert not np.array_equal(other.raw_scores(train_features), detector.raw_scores(train_features))
    assert detector.info["n_rows"] == train_features.height
    assert detector.info["n_symbols"] == len(SYMBOLS)
    assert detector.info["max_samples"] == 1024


def test_calibrated_scores_are_a_cdf_of_training_scores(train_features, detector):
    scores = detector.model_scores(train_features)
    assert scores.min() >= 0.0
    assert scores.max() <= 1.0
    # 0.99 means "more anomalous than 99% of training rows".
    assert abs(float((scores >= 0.99).mean()) - 0.01) < 0.005
    assert abs(float((scores >= 0.5).mean()) - 0.5) < 0.02
    raw = detector.raw_scores(train_features)
    order = np.argsort(raw, kind="stable")
    assert (np.diff(scores[order]) >= 0).all()


def test_calibration_is_monotone_and_bounded_beyond_the_training_range():
    raw = np.random.default_rng(0).beta(2, 5, 3000)
    calibration = ScoreCalibration.fit(raw)
    grid = np.linspace(-1.0, 2.0, 5001)
    calibrated = calibration(grid)
    assert (np.diff(calibrated) >= 0).all()
    assert calibrated[0] == 0.0
    assert calibrated[-1] == 1.0
    ties = ScoreCalibration.fit(np.r_[np.full(500, 0.4), np.linspace(0.41, 0.9, 500)])
    assert (np.diff(ties.raw) > 0).all()
    assert ties(0.4) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="at least 2 finite"):
        ScoreCalibration.fit(np.array([0.5]))


def test_calibration_of_one_value_is_bit_identical_to_the_array_path():
    rng = np.random.default_rng(5)
    calibrations = [
        ScoreCalibration.fit(rng.beta(2, 5, 3000)),
        ScoreCalibration.fit(np.r_[np.full(500, 0.4), np.linspace(0.41, 0.9, 500)]),
        ScoreCalibration.fit(rng.normal(size=40)),
        ScoreCalibration(raw=np.array([0.5]), level=np.array([1.0])),
    ]
    for calibration in calibrations:
        knots = calibration.raw
        values = np.r_[
            knots,
            np.nextafter(knots, -np.inf),
            np.nextafter(knots, np.inf),
            rng.uniform(knots[0] - 0.1, knots[-1] + 0.1, 3000),
            [-np.inf, np.inf, np.nan, -0.0, 0.0],
        ]
        one = np.array([calibration.one(value) for value in values])
        # Many values (np.interp precomputes the slopes) and one at a time (it does not).
        assert one.tobytes() == calibration(values).tobytes()
        assert one.tobytes() == np.array([calibration(np.array([v]))[0] for v in values]).tobytes()


def _edge_rows(train_features: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    """Real feature rows, then the same rows pushed to the edges the one-row path must get right."""
    base = train_features.select(REQUIRED_FEATURES).sample(300, seed=1)
    n = base.height
    spread = pl.Series(np.exp(rng.uniform(-25.0, 3.0, n)) * rng.choice([-1.0, 1.0], n))
    variants = [
        base,
        base.with_columns(rv_21=pl.lit(0.0)),  # no volatility: the floor divides
        base.with_columns(rv_21=pl.lit(VOL_FLOOR), parkinson_21=pl.lit(VOL_FLOOR / 2)),
        base.with_columns(hl_range=pl.lit(0.0), parkinson_21=pl.lit(0.0)),  # frozen bars
        base.with_columns(hl_range=pl.lit(RANGE_FLOOR)),
        base.with_columns(ret_1=pl.col("ret_1") * 40.0, ret_5=pl.col("ret_5") * 40.0),  # extreme moves
        base.with_columns(ret_1=pl.lit(-0.0), ma_gap_21=pl.lit(-0.0)),
        base.with_columns(ret_1=spread, ret_5=spread.shuffle(seed=2), ma_gap_21=spread.shuffle(seed=3)),
        base.with_columns(rv_21=spread.abs(), hl_range=spread.abs().shuffle(seed=4)),
    ]
    return pl.concat(variants)


def test_one_row_path_is_bit_identical_to_the_batch_path(detector, train_features):
    rows = _edge_rows(train_features, np.random.default_rng(8))
    matrix = feature_matrix(rows)
    inputs = model_inputs(matrix)
    model = detector.model_scores(rows)
    combined = detector.score_frame(rows).to_numpy()
    masks = feature_rule_masks(matrix, detector.rules)
    fired = 0
    for i, row in enumerate(rows.iter_rows(named=True)):
        assert model_input_row(feature_row(row)).tobytes() == inputs[i].tobytes()
        assessment = detector.score(row)
        assert assessment.model_score == model[i]
        assert assessment.score == combined[i]
        assert assessment.rule_hits == [code for code in ("move_absurd", "move_extreme") if masks[code][i]]
        fired += bool(assessment.rule_hits)
        if i % 25 == 0:
            assert detector.score(rows.slice(i, 1)) == assessment
    assert fired > rows.height // 10
    assert (model >= DEFAULT_THRESHOLD).sum() > rows.height // 10


def test_score_of_an_ordinary_bar_is_quiet_and_equals_the_batch_score(detector, window):
    row = features_for_last_bar(window)
    now = window["timestamp"][-1] + timedelta(hours=2)
    signal = {
        "signal_id": "s-1",
        "strategy_id": "st-1",
        "symbol": "BBB",
        "side": "buy",
        "strength": 0.6,
        "timestamp": now - timedelta(minutes=30),
    }
    assessment = detector.score(row, bars_window=window, signal=signal, now=now)
    assert assessment.rule_hits == []
    assert 0.0 <= assessment.score <= 1.0
    assert assessment.score == assessment.model_score
    assert assessment.model_score == pytest.approx(float(detector.score_frame(row)[0]), abs=1e-12)
    mapping = {name: row[name][0] for name in row.columns}
    assert detector.score(mapping).model_score == pytest.approx(assessment.model_score, abs=1e-12)
    assert assessment.to_dict()["is_anomalous"] is False


def test_score_is_the_max_of_model_and_rules_with_reasons(detector, window):
    row = features_for_last_bar(window)
    stale_now = window["timestamp"][-1] + timedelta(days=8)
    bad_signal = {"symbol": "BBB", "side": "hold", "strength": 0.5, "timestamp": window["timestamp"][-1]}
    assessment = detector.score(row, bars_window=window, signal=bad_signal, now=stale_now)
    assert assessment.rule_hits == ["bars_stale", "signal_unknown_side"]
    assert assessment.score == 1.0
    assert assessment.model_score < 1.0
    assert assessment.is_anomalous
    assert any("bar intervals old" in reason for reason in assessment.reasons)


def test_a_corrupted_bar_is_flagged_by_model_and_rules(detector, window):
    spiked = window.with_columns(
        pl.when(pl.int_range(pl.len()) == pl.len() - 1)
        .then(pl.col(name) * 1.6)
        .otherwise(pl.col(name))
        .alias(name)
        for name in ("high", "close")
    )
    assessment = detector.score(features_for_last_bar(spiked), bars_window=spiked)
    assert assessment.model_score >= DEFAULT_THRESHOLD
    assert "move_absurd" in assessment.rule_hits
    assert assessment.reasons[0].startswith("market state is more unusual than")


def test_score_frame_combines_model_and_feature_rules(detector, train_features):
    combined = detector.score_frame(train_features)
    assert combined.name == "anomaly_score"
    assert combined.len() == train_features.height
    model = detector.model_scores(train_features)
    assert (combined.to_numpy() >= model).all()
    extreme = (train_features["ret_1"].abs() > 3.5 * train_features["rv_21"]).to_numpy()
    assert (combined.to_numpy()[extreme] >= WARNING).all()


def test_save_and_load_give_identical_scores(detector, train_features, window, tmp_path):
    path = detector.save(tmp_path / "model")
    assert sorted(p.name for p in path.iterdir()) == ["anomaly.json", "anomaly_arrays.npz"]
    loaded = AnomalyDetector.load(path)
    np.testing.assert_array_equal(loaded.model_scores(train_features), detector.model_scores(train_features))
    row = features_for_last_bar(window)
    assert loaded.score(row, bars_window=window) == detector.score(row, bars_window=window)
    assert loaded.rules == detector.rules
    assert loaded.threshold == detector.threshold
    assert loaded.info == detector.info


def test_load_refuses_foreign_or_incomplete_directories(detector, tmp_path):
    with pytest.raises(ValueError, match="not a saved anomaly detector"):
        AnomalyDetector.load(tmp_path)
    path = detector.save(tmp_path / "model")
    meta = json.loads((path / "anomaly.json").read_text())
    (path / "anomaly.json").write_text(json.dumps({**meta, "model_inputs": ["other"]}))
    with pytest.raises(ValueError, match="model inputs"):
        AnomalyDetector.load(path)
    (path / "anomaly.json").write_text(json.dumps({**meta, "format_version": 99}))
    with pytest.raises(ValueError, match="format_version 99"):
        AnomalyDetector.load(path)


def test_detector_beats_the_naive_baseline_on_injected_anomalies(detector, split):
    report = evaluate_anomaly_detector(detector, split[1], seed=11, n_per_kind=60)
    assert report["n_injected"] == 240
    assert report["model_auc"] > report["baseline_auc"] + 0.1
    assert report["detector_auc"] >= report["model_auc"] - 0.01
    assert report["detector_recall"] > report["baseline_recall"]
    assert report["model_auc_price_spike"] > 0.95
    assert report["model_auc_stale_quote"] > 0.9
    assert report["detector_false_positive_rate"] < 0.03
    assert all(0.0 <= value <= 1.0 for key, value in report.items() if not key.startswith("n_"))
    again = evaluate_anomaly_detector(detector, split[1], seed=11, n_per_kind=60)
    assert again == report


def test_baseline_and_auc_helpers(train_features):
    baseline = baseline_scores(train_features)
    expected = (train_features["ret_1"].abs() / train_features["rv_21"]).to_numpy()
    np.testing.assert_allclose(baseline, expected)
    assert float((baseline >= BASELINE_THRESHOLD).mean()) < 0.02
    assert roc_auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.2, 0.3, 0.4])) == 1.0
    assert roc_auc(np.array([0, 1, 0, 1]), np.array([0.5, 0.5, 0.5, 0.5])) == 0.5


def test_bad_feature_inputs_raise_naming_the_column(detector, train_features):
    with pytest.raises(ValueError, match="missing column\\(s\\) 'rv_21'"):
        fit_anomaly_detector(train_features.drop("rv_21"))
    broken = train_features.with_columns(
        pl.when(pl.int_range(pl.len()) == 5)
        .then(float("nan"))
        .otherwise(pl.col("volume_z_21"))
        .alias("volume_z_21")
    )
    with pytest.raises(ValueError, match="'volume_z_21' has 1 non-finite"):
        fit_anomaly_detector(broken)
    infinite = train_features.head(1).with_columns(pl.lit(float("inf")).alias("ret_5"))
    with pytest.raises(ValueError, match="'ret_5' has 1 non-finite"):
        detector.score(infinite)
    with pytest.raises(ValueError, match="'hl_range' is String"):
        detector.score_frame(train_features.with_columns(pl.col("hl_range").cast(pl.String)))
    with pytest.raises(ValueError, match="'ret_1' is None, not a number"):
        detector.score({**train_features.row(0, named=True), "ret_1": None})
    with pytest.raises(ValueError, match="expected one row, got 2"):
        detector.score(train_features.head(2))
    # One mapping: a non-number is named before a NaN in an earlier column, as for a table.
    row = train_features.row(0, named=True)
    with pytest.raises(ValueError, match="'ret_5' is 'x', not a number"):
        detector.score({**row, "ret_1": float("nan"), "ret_5": "x"})
    with pytest.raises(ValueError, match="'rv_21' has 1 non-finite"):
        detector.score({**row, "rv_21": float("inf"), "volume_z_21": float("nan")})
    with pytest.raises(ValueError, match="missing column\\(s\\) 'ret_1', 'hl_range'"):
        detector.score({k: v for k, v in row.items() if k not in ("ret_1", "hl_range")})
    with pytest.raises(ValueError, match="expected a polars DataFrame or a mapping, got list"):
        detector.score([1.0] * len(REQUIRED_FEATURES))  # type: ignore[arg-type]


def test_bad_fit_parameters_raise(train_features):
    with pytest.raises(ValueError, match=f"fitting needs at least {MIN_TRAINING_ROWS}"):
        fit_anomaly_detector(train_features.head(MIN_TRAINING_ROWS - 1))
    with pytest.raises(ValueError, match="n_estimators"):
        fit_anomaly_detector(train_features, n_estimators=0)
    with pytest.raises(ValueError, match="max_samples"):
        fit_anomaly_detector(train_features, max_samples=1.5)
    with pytest.raises(ValueError, match="max_samples"):
        fit_anomaly_detector(train_features, max_samples="all")
    with pytest.raises(ValueError, match="threshold"):
        fit_anomaly_detector(train_features, threshold=0.0)


def test_evaluation_input_errors(detector, split):
    with pytest.raises(ValueError, match="missing column\\(s\\) 'volume'"):
        evaluate_anomaly_detector(detector, split[1].drop("volume"), seed=0)
    short = split[1].group_by("symbol", maintain_order=True).head(LOOKBACK_BARS - 1)
    with pytest.raises(ValueError, match=f"{LOOKBACK_BARS} bars"):
        evaluate_anomaly_detector(detector, short, seed=0)


def test_loading_and_scoring_never_import_sklearn(detector, tmp_path):
    # scipy is left out of the check: numba, which compiles the forest kernel, imports it itself.
    path = detector.save(tmp_path / "model")
    code = (
        "import sys; from nexus_assets.ml.anomaly import AnomalyDetector;"
        f"d = AnomalyDetector.load({str(path)!r});"
        "from nexus_assets.ml.anomaly import REQUIRED_FEATURES;"
        "row = dict.fromkeys(REQUIRED_FEATURES, 0.01);"
        "print(0.0 <= d.score(row).score <= 1.0, sorted({m.split('.')[0] for m in sys.modules} & {'sklearn', 'dagster', 'fastapi', 'mlflow', 'torch'}))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "True []"
