"""Walk-forward replay of the decision policy over price history, with costs."""

import lazy_loader

PUBLIC = {
    "replay": ["BacktestConfig", "BacktestResult", "run_backtest"],
    "performance": ["performance"],
}
__getattr__, __dir__, __all__ = lazy_loader.attach(__name__, submod_attrs=PUBLIC)
