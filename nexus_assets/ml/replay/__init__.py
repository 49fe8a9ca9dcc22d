"""The served decision path replayed walk-forward on price history, with its ablations and baselines."""

import lazy_loader

PUBLIC = {
    "config": ["ReplayConfig", "RetrainConfig"],
    "loop": ["ROWS", "ReplayResult", "run_replay"],
    "prices": ["ReplayBars", "read_replay_prices", "replay_bars"],
    "signal_file": ["read_signal_file"],
}
__getattr__, __dir__, __all__ = lazy_loader.attach(__name__, submod_attrs=PUBLIC)
