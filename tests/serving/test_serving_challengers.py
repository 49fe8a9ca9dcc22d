"""Challengers are loaded beside the champions, cached with them and followed by the watcher."""

from __future__ import annotations

from challenger_support import copy_registry, shifted_volatility

from nexus_assets.ml import registry
from nexus_serving.model_store import ModelStore, load_from_cache, load_into
from nexus_serving.model_watcher import ChampionWatcher

VOLATILITY = registry.VOLATILITY_MODEL


def test_challengers_are_loaded_cached_and_followed_by_the_watcher(trained_registry, tmp_path):
    uri = copy_registry(trained_registry, tmp_path / "registry")
    store, cache = ModelStore(), tmp_path / "cache"
    load_into(store, uri, cache)
    assert store.current is not None and store.current.shadow is None and not store.current.named_challengers
    watcher = ChampionWatcher(store, uri, cache, interval=60)
    assert not watcher.check_once(), "nothing moved"
    version = shifted_volatility(uri, tmp_path / "volatility")
    assert watcher.check_once(), "a challenger alias moved: a new bundle"
    bundle = store.current
    assert bundle.named_challengers == {VOLATILITY: version}
    assert bundle.shadow is not None and bundle.shadow.versions[VOLATILITY] == version
    assert bundle.shadow.predictor is bundle.champions.predictor, "a model without a challenger is shared"
    assert bundle.challengers[VOLATILITY].alias == "challenger"
    assert not watcher.check_once()
    cached = load_from_cache(cache)
    assert cached.shadow is not None and cached.shadow.versions == bundle.shadow.versions
    assert cached.named_challengers == {VOLATILITY: version}
