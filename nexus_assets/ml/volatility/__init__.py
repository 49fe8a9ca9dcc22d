"""The volatility forecaster (model ``trade-nexus-volatility``): one-step-ahead variance.

``inputs`` computes range-based variance inputs per bar, ``kernel`` the regressors and the
forecast (compiled, shared by fit and serving), ``model`` the fitted log-linear HAR,
``baselines`` GARCH(1,1) and EWMA, and ``walkforward`` the out-of-sample comparison.
"""

import lazy_loader

PUBLIC = {
    "inputs": [
        "INPUT_COLUMNS",
        "TARGET_COLUMN",
        "VOL_LOOKBACK_BARS",
        "input_values",
        "inputs_for_last_bar",
        "volatility_inputs",
    ],
    "model": ["MODEL_VERSION", "VolatilityFitError", "VolatilityModel", "fit_volatility_model", "qlike"],
    "baselines": ["ewma_forecasts", "garch11_forecasts"],
    "walkforward": ["DEFAULT_REFIT_EVERY", "WalkForwardResult", "walk_forward"],
}
__getattr__, __dir__, __all__ = lazy_loader.attach(__name__, submod_attrs=PUBLIC)
