"""The champion bundle the service decides with: loaded from the registry, cached on disk.

A request reads ``store.current`` once and uses that bundle to the end, and a new bundle
replaces the old one in a single reference assignment, so a hot swap can never mix model
versions within a decision. Every registry load is copied to a local cache, so a restart
while the registry is down still serves the last good champions (reported as ``cache``).
Challengers (``challengers``) travel in the same bundle and the same cache, for shadow scoring.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import time
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from mlflow import MlflowClient

from nexus_assets.ml import registry
from nexus_assets.ml.registry.champions import (
    MODEL_NAMES,
    Champions,
    NoChampionError,
    load_champions,
    open_champions,
)
from nexus_assets.ml.registry.names import CHALLENGER_ALIAS, GATE_TAG_PREFIX
from nexus_serving.challengers import (
    CHALLENGER_FOLDER,
    challenger_folders,
    challenger_versions,
    download_challengers,
    shadow_set,
)

logger = logging.getLogger(__name__)

MANIFEST, POINTER = "manifest.json", "current.json"
ABANDONED_S = 3600.0
"""A bundle folder left without a manifest this long is a failed download, not one in progress."""
Source = Literal["registry", "cache"]


@dataclass(frozen=True)
class ModelInfo:
    name: str
    version: str
    alias: str
    trained_at: datetime
    """The version's ``trained_until`` tag, else its registration time."""
    gate: tuple[tuple[str, str], ...] = ()
    """The promotion gate's verdict on this version: its ``gate.*`` tags, the prefix dropped,
    sorted (a tuple: the info is hashed)."""
    run_id: str | None = None
    """The MLflow run that logged the version."""

    def age_days(self, now: datetime) -> float:
        return max((now - self.trained_at).total_seconds() / 86_400.0, 0.0)


@dataclass(frozen=True)
class ModelBundle:
    """Everything one decision needs from the models, swapped as a unit."""

    champions: Champions
    info: dict[str, ModelInfo]
    source: Source
    loaded_at: datetime
    shadow: Champions | None = None
    """The champions with each challenger in its model's place, scored off the response path;
    None when no model has a challenger (or none could be opened)."""
    challengers: dict[str, ModelInfo] = field(default_factory=dict)
    """The challengers in ``shadow``, by model name."""
    named_challengers: dict[str, str] = field(default_factory=dict)
    """The challenger versions the registry named at load, opened or not: the watcher reloads
    when these move, not on every poll while a broken challenger stays named."""

    @property
    def window(self) -> int:
        return self.champions.window

    def shadow_bundle(self) -> ModelBundle | None:
        """The bundle ``model_views`` scores the challengers with; None without a challenger."""
        if self.shadow is None:
            return None
        return replace(self, champions=self.shadow, info={**self.info, **self.challengers}, shadow=None)


class ModelStore:
    """Holds the current bundle (or why there is none); readers never lock."""

    def __init__(self) -> None:
        self._bundle: ModelBundle | None = None
        self._reason = "models are not loaded yet"
        self._lock = threading.Lock()

    @property
    def current(self) -> ModelBundle | None:
        return self._bundle

    @property
    def reason(self) -> str:
        return self._reason

    def swap(self, bundle: ModelBundle) -> None:
        """Install a new bundle atomically (one reference assignment)."""
        with self._lock:
            self._bundle = bundle
            self._reason = ""

    def fail(self, reason: str) -> None:
        """Record why no bundle could be loaded; a bundle already serving stays in place."""
        with self._lock:
            self._reason = reason


def registry_client(tracking_uri: str | None) -> MlflowClient:
    """A client on ``tracking_uri``, or on the project default when it is None.

    MLflow's process-wide tracking URI is left alone: the watcher thread polls with this client
    while the process may be logging a run elsewhere, and a global flipped under that run
    sends its next write to a store that does not hold it ("Run ... not found").
    """
    uri = tracking_uri or registry.tracking_uri()
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _trained_at(tags: dict[str, str], created_ms: int | None) -> datetime:
    stamp = tags.get("trained_until")
    if stamp:
        try:
            parsed = datetime.fromisoformat(stamp)
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        except ValueError:
            logger.warning("unreadable trained_until tag %r; using the registration time", stamp)
    return datetime.fromtimestamp((created_ms or 0) / 1000, tz=UTC)


def _info_to_json(info: ModelInfo) -> dict[str, object]:
    return {
        "name": info.name,
        "version": info.version,
        "alias": info.alias,
        "trained_at": info.trained_at.isoformat(),
        "gate": dict(info.gate),
        "run_id": info.run_id,
    }


def _info_from_json(data: dict) -> ModelInfo:
    """A cached bundle's model; one cached before the gate and run were kept has neither."""
    return ModelInfo(
        data["name"],
        data["version"],
        data["alias"],
        datetime.fromisoformat(data["trained_at"]),
        tuple(sorted((data.get("gate") or {}).items())),
        data.get("run_id"),
    )


def load_from_registry(client: MlflowClient, cache_dir: Path) -> ModelBundle:
    """Download every champion into a fresh cache folder, open it and make it the cached bundle."""
    folder = cache_dir / "bundles" / f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    try:
        champions = load_champions(client, folder)
        info = {
            name: _model_info(client, name, champions.versions[name], registry.CHAMPION_ALIAS)
            for name in MODEL_NAMES
        }
        named = challenger_versions(client)
        shadow, challengers = _load_challengers(client, champions, named, folder)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    manifest = {
        "models": [_info_to_json(i) for i in info.values()],
        "challengers": [_info_to_json(i) for i in challengers.values()],
        "named_challengers": named,
    }
    (folder / MANIFEST).write_text(json.dumps(manifest))
    _point_cache_at(cache_dir, folder)
    return ModelBundle(champions, info, "registry", datetime.now(UTC), shadow, challengers, named)


def _model_info(client: MlflowClient, name: str, version: str, alias: str) -> ModelInfo:
    found = client.get_model_version(name, version)
    tags = dict(found.tags or {})
    gate = {
        key.removeprefix(GATE_TAG_PREFIX): value
        for key, value in tags.items()
        if key.startswith(GATE_TAG_PREFIX)
    }
    return ModelInfo(
        name,
        str(found.version),
        alias,
        _trained_at(tags, found.creation_timestamp),
        tuple(sorted(gate.items())),
        found.run_id or None,
    )


def _load_challengers(
    client: MlflowClient, champions: Champions, named: dict[str, str], folder: Path
) -> tuple[Champions | None, dict[str, ModelInfo]]:
    """The shadow set of the challengers ``named``; none when there are none or they cannot be
    loaded (logged): the champions serve either way."""
    if not named:
        return None, {}
    try:
        folders = download_challengers(client, named, folder)
        info = {name: _model_info(client, name, version, CHALLENGER_ALIAS) for name, version in named.items()}
        return shadow_set(champions, folders, named), info
    except Exception as exc:
        logger.warning("challengers %s not loaded, serving without shadow scoring: %s", named, exc)
        shutil.rmtree(folder / CHALLENGER_FOLDER, ignore_errors=True)
        return None, {}


def _point_cache_at(cache_dir: Path, folder: Path) -> None:
    """Make ``folder`` the cached bundle (atomic rename), then drop older bundles.

    A folder without its manifest is another worker's download still in progress (workers load
    at the same time): it is left alone unless it was abandoned, untouched for ``ABANDONED_S``.
    """
    pointer = cache_dir / POINTER
    temporary = cache_dir / f".{POINTER}.{uuid.uuid4().hex}"
    temporary.write_text(json.dumps({"bundle": folder.name}))
    os.replace(temporary, pointer)
    for old in (cache_dir / "bundles").iterdir():
        if old.name == folder.name:
            continue
        try:
            downloading = not (old / MANIFEST).exists() and time.time() - old.stat().st_mtime < ABANDONED_S
        except FileNotFoundError:  # its owner removed it meanwhile
            continue
        if not downloading:
            shutil.rmtree(old, ignore_errors=True)


def load_from_cache(cache_dir: Path) -> ModelBundle:
    """Open the last bundle a registry load cached; raises FileNotFoundError when there is none."""
    pointer = cache_dir / POINTER
    if not pointer.is_file():
        raise FileNotFoundError(f"{cache_dir}: no cached models")
    folder = cache_dir / "bundles" / json.loads(pointer.read_text())["bundle"]
    manifest = json.loads((folder / MANIFEST).read_text())
    info = {i.name: i for i in map(_info_from_json, manifest["models"])}
    missing = [name for name in MODEL_NAMES if name not in info]
    if missing:
        raise FileNotFoundError(f"{folder}: cached bundle lacks {', '.join(missing)}")
    champions = open_champions(
        {name: folder / name for name in MODEL_NAMES}, {name: info[name].version for name in MODEL_NAMES}
    )
    challengers = {i.name: i for i in map(_info_from_json, manifest.get("challengers", []))}
    shadow = None
    if challengers:
        try:
            folders = challenger_folders(folder, list(challengers))
            shadow = shadow_set(champions, folders, {name: i.version for name, i in challengers.items()})
        except Exception as exc:  # the champions serve without them
            logger.warning("cached challengers not opened, serving without shadow scoring: %s", exc)
            challengers = {}
    named = manifest.get("named_challengers", {})
    return ModelBundle(champions, info, "cache", datetime.now(UTC), shadow, challengers, named)


def load_into(store: ModelStore, tracking_uri: str | None, cache_dir: Path) -> None:
    """Start-up load: the registry first, the local cache when the registry cannot be used."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    try:
        store.swap(load_from_registry(registry_client(tracking_uri), cache_dir))
        logger.info(
            "loaded champions from the registry: %s", store.current and store.current.champions.versions
        )
        return
    except NoChampionError as exc:
        registry_problem = f"no champion in the registry ({exc})"
    except Exception as exc:
        registry_problem = f"model registry unavailable ({type(exc).__name__})"
        logger.warning("champion load from the registry failed: %s", exc)
    try:
        store.swap(load_from_cache(cache_dir))
        logger.warning("%s; serving the cached champions", registry_problem)
    except (OSError, ValueError, KeyError) as exc:
        store.fail(f"{registry_problem}; no usable cached models ({exc})")
        logger.error("no models to serve: %s", store.reason)
