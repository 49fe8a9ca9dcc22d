"""From signals and model views to a decision and a book: policy, risk gate, allocation.

``policy`` decides one signal (execute, reduce, reject, halt), behind the hard limits of
``risk_gate``; ``allocation`` turns the decisions into target weights through the optimizer,
from the per-symbol views ``allocation_inputs`` computes; ``news_inputs`` and ``covariance``
are the news/review and risk inputs.
"""

import lazy_loader

PUBLIC = {
    "policy": ["Action", "Decision", "PolicyConfig", "SignalContext", "decide"],
    "risk_gate": ["ReasonCode", "RiskLimits", "RiskState", "evaluate_gate"],
    "allocation": ["SymbolView", "allocate"],
    "allocation_inputs": ["symbol_views"],
    "covariance": ["shrunk_covariance"],
    "news_inputs": ["latest_sentiment", "reviewed_signals"],
}
__getattr__, __dir__, __all__ = lazy_loader.attach(__name__, submod_attrs=PUBLIC)
