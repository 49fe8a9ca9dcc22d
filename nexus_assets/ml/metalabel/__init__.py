"""Meta-labeling: how likely a signal's bet is to pay, from triple-barrier labels of past signals."""

import lazy_loader

PUBLIC = {
    "labels": ["BarrierConfig", "triple_barrier"],
    "model": ["META_FEATURES", "MetaLabeler", "bet_size", "fit_meta_labeler"],
}
__getattr__, __dir__, __all__ = lazy_loader.attach(__name__, submod_attrs=PUBLIC)
