"""The LSTM next-bar return predictor (model ``trade-nexus-predictor``).

``sequences`` builds the feature windows training, evaluation and serving share; ``lstm``
trains the network (torch); ``evaluation`` scores it walk-forward against naive baselines;
``onnx_export`` turns it into the ONNX Runtime artifact that serving runs. ``config`` holds
the hyper-parameters and imports no torch (the Dagster code location reads it).
"""

import lazy_loader

PUBLIC = {
    "config": ["LstmConfig"],
    "sequences": ["SEQUENCE_FEATURES", "VOL_FEATURE", "Sequences", "build_sequences"],
    "lstm": ["TrainedPredictor", "TrainingDivergedError", "predict", "train_predictor"],
    "evaluation": [
        "WalkForwardResult",
        "beats_naive_baselines",
        "prediction_metrics",
        "walk_forward_train",
    ],
    "onnx_export": ["OnnxPredictor", "check_parity", "export_onnx"],
}
__getattr__, __dir__, __all__ = lazy_loader.attach(__name__, submod_attrs=PUBLIC)
