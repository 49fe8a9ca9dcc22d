"""What the model and backtest assets hand to MLflow: each model's train-evaluate-register-gate
flow, the gate's replayed decision metric, and the backtest's run.
"""

import lazy_loader

PUBLIC = {
    "anomaly": ["train_and_register_anomaly_detector"],
    "predictor": ["train_and_register_predictor"],
    "volatility": ["train_and_register_volatility_model"],
    "decisions": ["DecisionReplay", "decision_check", "decision_scores"],
    "backtest": ["log_backtest"],
}
__getattr__, __dir__, __all__ = lazy_loader.attach(__name__, submod_attrs=PUBLIC)
