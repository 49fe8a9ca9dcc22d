"""MLflow: where models are logged, the champion/challenger gate, and the champions' loading.

``tracking`` configures MLflow and judges challengers; ``names`` holds the registered model
names (a public interface); ``release`` logs a version in one shape for every model; ``pyfunc``
wraps each model for generic MLflow tooling; ``champions`` loads the three champions in their
fast inference forms; ``challengers`` finds and promotes the versions serving in shadow. Nothing here imports MLflow until a name is used.
"""

import lazy_loader

PUBLIC = {
    "names": ["ANOMALY_MODEL", "CHALLENGER_ALIAS", "CHAMPION_ALIAS", "PREDICTOR_MODEL", "VOLATILITY_MODEL"],
    "tracking": [
        "EXPERIMENT_NAME",
        "DecisionCheck",
        "GateMetric",
        "Verdict",
        "champion",
        "champion_version",
        "configure",
        "artifact_root",
        "download_version",
        "ensure_experiment",
        "judge_and_promote",
        "tracking_uri",
    ],
    "release": ["log_and_register"],
    "challengers": ["challenger", "promote_challenger"],
    "champions": ["MODEL_NAMES", "Champions", "NoChampionError", "load_champions", "open_champions"],
}
__getattr__, __dir__, __all__ = lazy_loader.attach(__name__, submod_attrs=PUBLIC)
