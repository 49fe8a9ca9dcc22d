"""The volatility model: the QLIKE fit recovers known coefficients, is deterministic, round-trips as JSON."""

from __future__ import annotations

import json
import re

import numpy as np
import polars as pl
import pytest

from nexus_assets.ml.volatility.model import (
    COEFFICIENT_NAMES,
    INPUT_COLUMNS,
    MIN_TRAIN_ROWS,
    MODEL_VERSION,
    TARGET_COLUMN,
    VolatilityFitError,
    VolatilityModel,
    design_matrix,
    fit_volatility_model,
    qlike,
    volatility_inputs,
)
from nexus_assets.sim.market import MarketSimConfig, simulate_market

TRUE_COEFFICIENTS = np.array([-0.5, 0.15, 0.35, 0.45, -0.2])


def _synthetic(n: int, seed: int = 0) -> pl.DataFrame:
    """Inputs with a known log-linear variance, and targets r^2 = h z^2 drawn from it."""
    rng = np.random.default_rng(seed)
    level = rng.normal(np.log(1e-4), 0.6, n)
    frame = {
        "ret_1": rng.normal(0.0, 0.01, n),
        "var_1": np.exp(level + rng.normal(0, 0.8, n)),
        "var_5": np.exp(level + rng.normal(0, 0.4, n)),
        "var_22": np.exp(level + rng.normal(0, 0.2, n)),
    }
    h = np.exp(design_matrix(frame, floor=1e-12) @ TRUE_COEFFICIENTS)
    frame[TARGET_COLUMN] = h * rng.standard_normal(n) ** 2
    return pl.DataFrame(frame)


@pytest.fixture(scope="module")
def simulated_inputs() -> pl.DataFrame:
    return volatility_inputs(simulate_market(MarketSimConfig(symbols=("AAA", "BBB"), n_bars=300, seed=3)))


def test_fit_recovers_known_coefficients():
    model = fit_volatility_model(_synthetic(40_000))
    assert np.allclose(model.coefficients, TRUE_COEFFICIENTS, atol=0.06)
    assert model.fitted_rows == 40_000


def test_fit_is_the_qlike_minimum():
    frame = _synthetic(3_000, seed=1)
    model = fit_volatility_model(frame)
    y = frame[TARGET_COLUMN].to_numpy()
    best = qlike(model.forecast_variance(frame), y)
    for i in range(len(COEFFICIENT_NAMES)):
        for step in (-1e-3, 1e-3):
            moved = np.array(model.coefficients)
            moved[i] += step
            other = VolatilityModel(
                coefficients=tuple(moved), floor=model.floor, fitted_rows=model.fitted_rows
            )
            assert qlike(other.forecast_variance(frame), y) > best


def test_fit_is_deterministic_and_uses_only_rows_with_a_target(simulated_inputs):
    first = fit_volatility_model(simulated_inputs)
    again = fit_volatility_model(simulated_inputs)
    assert first == again
    assert first.fitted_rows == simulated_inputs[TARGET_COLUMN].drop_nulls().len()


def test_dict_round_trip_through_json(simulated_inputs):
    model = fit_volatility_model(simulated_inputs)
    stored = json.loads(json.dumps(model.to_dict()))
    loaded = VolatilityModel.from_dict(stored)
    assert loaded == model
    assert stored["version"] == MODEL_VERSION
    assert list(stored["coefficients"]) == list(COEFFICIENT_NAMES)
    assert np.array_equal(
        loaded.forecast_variance(simulated_inputs), model.forecast_variance(simulated_inputs)
    )


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.pop("floor"), "missing field 'floor'"),
        (lambda d: d.update(version="other/9"), "version: 'other/9'"),
        (lambda d: d["coefficients"].pop("leverage"), "coefficients: expected keys"),
        (lambda d: d["coefficients"].update(const=float("nan")), "coefficients: must be finite"),
        (lambda d: d.update(floor=0.0), "floor: must be a positive"),
        (lambda d: d.update(input_columns=["ret_1"]), "input_columns: expected"),
        (
            lambda d: d["coefficients"].update(leverage="-0.1"),
            "coefficients.leverage: expected a number, got str",
        ),
        (lambda d: d.update(fitted_rows=None), "fitted_rows: expected a number"),
    ],
    ids=["missing", "version", "coefficient-names", "nan", "floor", "inputs", "text", "null"],
)
def test_from_dict_refuses_a_bad_artifact(simulated_inputs, edit, message):
    stored = fit_volatility_model(simulated_inputs).to_dict()
    edit(stored)
    with pytest.raises(ValueError, match=re.escape(message)):
        VolatilityModel.from_dict(stored)


def test_forecasts_are_positive_and_finite_even_for_constant_prices(simulated_inputs):
    model = fit_volatility_model(simulated_inputs)
    flat = simulated_inputs.head(3).with_columns(pl.lit(0.0).alias(c) for c in INPUT_COLUMNS)
    forecast = model.forecast_variance(flat)
    assert np.all(np.isfinite(forecast))
    assert np.all(forecast > 0)


def test_fit_refuses_constant_prices():
    frame = pl.DataFrame({c: [0.0] * 200 for c in (*INPUT_COLUMNS, TARGET_COLUMN)})
    with pytest.raises(ValueError, match="every squared return is zero"):
        fit_volatility_model(frame)


def test_runs_of_unchanged_closes_do_not_break_the_fit():
    frame = _synthetic(2_000, seed=4)
    quiet = pl.Series([i % 3 == 0 for i in range(frame.height)])
    frame = frame.with_columns(
        pl.when(quiet).then(0.0).otherwise(pl.col(c)).alias(c) for c in (*INPUT_COLUMNS, TARGET_COLUMN)
    )
    model = fit_volatility_model(frame)
    assert np.all(np.isfinite(model.coefficients))
    assert np.all(model.forecast_variance(frame) >= model.floor * 1e-3)


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (_synthetic(MIN_TRAIN_ROWS - 1), "99 rows with a known target, the fit needs at least 100"),
        (
            _synthetic(300).with_columns(var_5=pl.lit(float("nan"))),
            "column 'var_5' has missing or non-finite",
        ),
        (_synthetic(300).with_columns(var_1=pl.lit(-1.0)), "column 'var_1' has negative variances"),
        (_synthetic(300).drop("var_22"), "missing column(s): var_22"),
        (_synthetic(300).with_columns(target_sq_return=pl.lit(-1.0)), "'target_sq_return' must be finite"),
    ],
    ids=["too-few-rows", "nan", "negative", "missing-column", "negative-target"],
)
def test_fit_refuses_bad_inputs(frame, message):
    with pytest.raises(ValueError, match=f"^inputs.*{re.escape(message)}"):
        fit_volatility_model(frame)


def test_an_overflowing_target_is_a_fit_error_not_a_numpy_warning():
    frame = _synthetic(300).with_columns(target_sq_return=pl.lit(1e308))
    with pytest.raises(VolatilityFitError, match="QLIKE fit"):
        fit_volatility_model(frame)


def test_qlike_by_hand_and_its_errors():
    h, y = np.array([1.0, 2.0]), np.array([1.0, 0.0])
    assert qlike(h, y) == pytest.approx((0.0 + 1.0 + np.log(2.0) + 0.0) / 2)
    with pytest.raises(ValueError, match="positive"):
        qlike(np.array([0.0]), np.array([1.0]))
    with pytest.raises(ValueError, match="shapes"):
        qlike(np.array([1.0]), np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match="no observations"):
        qlike(np.array([]), np.array([]))


def _numpy_design(inputs: dict[str, np.ndarray], floor: float) -> np.ndarray:
    """The regressors written as NumPy array expressions, the reference for the compiled kernel."""
    var_1, var_5, var_22 = (np.maximum(inputs[c], floor) for c in INPUT_COLUMNS[1:])
    leverage = np.minimum(inputs["ret_1"], 0.0) / np.sqrt(var_22)
    return np.column_stack([np.ones_like(var_1), np.log(var_1), np.log(var_5), np.log(var_22), leverage])


def test_compiled_regressors_and_forecast_match_the_array_formulas():
    rng = np.random.default_rng(7)
    n = 5_000
    inputs = {
        "ret_1": rng.normal(0.0, 0.02, n),
        "var_1": np.exp(rng.normal(np.log(1e-4), 3.0, n)),  # wide: many rows below the floor
        "var_5": np.exp(rng.normal(np.log(1e-4), 2.0, n)),
        "var_22": np.exp(rng.normal(np.log(1e-4), 1.0, n)),
    }
    inputs["var_1"][:50] = 0.0
    inputs["ret_1"][50:60] = -0.0
    inputs["var_5"][60] = np.nan  # NaN propagates as np.maximum propagates it
    floor = 1e-6
    design = design_matrix(inputs, floor)
    reference = _numpy_design(inputs, floor)
    assert np.array_equal(np.isnan(design), np.isnan(reference))
    assert np.allclose(design, reference, rtol=1e-15, atol=0.0, equal_nan=True)
    model = VolatilityModel(coefficients=tuple(TRUE_COEFFICIENTS), floor=floor, fitted_rows=n)
    forecast = model.forecast_arrays(inputs)
    assert np.allclose(forecast, np.exp(reference @ TRUE_COEFFICIENTS), rtol=1e-13, equal_nan=True)
    one = model.forecast_arrays({name: values[123:124] for name, values in inputs.items()})
    assert one[0] == forecast[123]  # a serving row equals the same row in a batch, bit for bit
