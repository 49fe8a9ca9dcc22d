"""Give an empty registry its first champions, so ``nexus serve --bootstrap`` works out of the box.

Trains small models on simulated data with the same lifecycle functions the asset graph uses
(so they pass the same gates), and only for models that have no champion yet.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

from nexus_assets.ml import registry
from nexus_assets.ml.predictor.config import LstmConfig
from nexus_assets.sim.market import MarketSimConfig

BOOTSTRAP_MARKET = MarketSimConfig(
    symbols=tuple(f"S{i}" for i in range(12)), n_bars=800, seed=7, reversal=0.3, calm_to_stress=0.0
)
BOOTSTRAP_LSTM = LstmConfig(max_epochs=8, patience=3, learning_rate=3e-3)


def missing_champions() -> list[str]:
    client = registry.configure()
    return [
        name
        for name in (registry.PREDICTOR_MODEL, registry.VOLATILITY_MODEL, registry.ANOMALY_MODEL)
        if registry.champion(client, name) is None
    ]


def ensure_champions(log: Callable[[str], None] = print) -> list[str]:
    """Train and register every model without a champion; returns the names it trained."""
    from nexus_assets.ml.features import compute_features
    from nexus_assets.ml.lifecycle.anomaly import train_and_register_anomaly_detector
    from nexus_assets.ml.lifecycle.predictor import train_and_register_predictor
    from nexus_assets.ml.lifecycle.volatility import train_and_register_volatility_model
    from nexus_assets.sim.market import simulate_market

    missing = missing_champions()
    if not missing:
        return []
    log(f"bootstrapping champions on simulated data: {', '.join(missing)}")
    bars = simulate_market(BOOTSTRAP_MARKET)
    tags = {"bootstrap": "simulated"}
    with tempfile.TemporaryDirectory(prefix="nexus-bootstrap-") as folder:
        workdir = Path(folder)
        if registry.PREDICTOR_MODEL in missing:
            train_and_register_predictor(
                compute_features(bars),
                workdir=workdir / "predictor",
                config=BOOTSTRAP_LSTM,
                folds=2,
                log=log,
                tags=tags,
            )
        if registry.VOLATILITY_MODEL in missing:
            train_and_register_volatility_model(bars, workdir=workdir / "volatility", log=log, tags=tags)
        if registry.ANOMALY_MODEL in missing:
            train_and_register_anomaly_detector(bars, workdir=workdir / "anomaly", log=log, tags=tags)
    still = missing_champions()
    if still:
        log(f"bootstrap left no champion for: {', '.join(still)} (the gate kept them out)")
    return missing
