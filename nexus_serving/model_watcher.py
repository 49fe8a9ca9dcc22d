"""Hot swap: follow the registry's ``champion`` and ``challenger`` aliases; swap in a new bundle when one moves.

The new bundle is downloaded and opened completely before the store's single reference
assignment, so requests in flight finish on the old bundle and later ones start on the new
one: no request fails and none mixes versions. A failed poll or load leaves the current
bundle serving and is retried on the next tick.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from nexus_assets.ml import registry
from nexus_assets.ml.registry.champions import MODEL_NAMES
from nexus_serving.challengers import challenger_versions
from nexus_serving.model_store import ModelBundle, ModelStore, load_from_registry, registry_client

logger = logging.getLogger(__name__)


def champion_versions(tracking_uri: str | None) -> dict[str, str] | None:
    """The version each ``champion`` alias names now; None while any model has none."""
    client = registry_client(tracking_uri)
    versions = {}
    for name in MODEL_NAMES:
        version = registry.champion_version(client, name)
        if version is None:
            return None
        versions[name] = version
    return versions


class ChampionWatcher:
    """A daemon thread that polls the aliases every ``interval`` seconds."""

    def __init__(
        self,
        store: ModelStore,
        tracking_uri: str | None,
        cache_dir: Path,
        interval: float,
        on_swap: Callable[[ModelBundle], None] = lambda _: None,
        on_error: Callable[[Exception], None] = lambda _: None,
    ) -> None:
        self._store = store
        self._tracking_uri = tracking_uri
        self._cache_dir = cache_dir
        self._interval = interval
        self._on_swap = on_swap
        self._on_error = on_error
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="champion-watcher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def check_once(self) -> bool:
        """Swap when an alias moved (or the store serves the disk cache); True when it swapped."""
        versions = champion_versions(self._tracking_uri)
        if versions is None:
            return False
        current = self._store.current
        if (
            current is not None
            and current.source == "registry"
            and dict(current.champions.versions) == versions
            and current.named_challengers == challenger_versions(registry_client(self._tracking_uri))
        ):
            return False
        bundle = load_from_registry(registry_client(self._tracking_uri), self._cache_dir)
        self._store.swap(bundle)
        logger.info(
            "hot-swapped champions: %s, challengers: %s", bundle.champions.versions, bundle.named_challengers
        )
        self._on_swap(bundle)
        return True

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.check_once()
            except Exception as exc:
                logger.warning("champion poll failed, still serving the current models: %s", exc)
                self._on_error(exc)
