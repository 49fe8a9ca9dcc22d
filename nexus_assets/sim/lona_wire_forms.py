"""Which of Lona's answer shapes the stand-in gives, so tests can meet each of them.

The real gateway's shapes are known only from the original Trade Nexus backend's client, which
reads more than one: symbol data as a plain OHLCV array or through a ``file_url`` to a CSV
(on the symbol itself or in the data answer), strategy code inline or only from
``GET /strategies/{id}/code``. The stand-in picks one per setting, at start-up
(``--symbol-data-form``, ``--strategy-code``) or through ``/_sim/protocol``, so a client is
checked against every shape over real HTTP rather than against the one we would choose.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict

SymbolDataForm = Literal["columnar", "records", "file_url", "symbol_file_url"]
StrategyCodeForm = Literal["inline", "endpoint"]
SYMBOL_DATA_FORMS: tuple[str, ...] = ("columnar", "records", "file_url", "symbol_file_url")
STRATEGY_CODE_FORMS: tuple[str, ...] = ("inline", "endpoint")


@dataclass(frozen=True)
class WireForms:
    symbol_data: SymbolDataForm = "columnar"
    """``columnar``: ``{symbol_id, name, frequency, bars: {column: [...]}}`` (this project's);
    ``records``: ``[{timestamp, open, high, low, close, volume}, ...]``; ``file_url``:
    ``{"file_url": ...}``; ``symbol_file_url``: the symbol record carries ``file_url``."""
    strategy_code: StrategyCodeForm = "inline"
    """``endpoint``: strategies omit ``code``; only ``GET /strategies/{id}/code`` has it."""
    file_body: str | None = None
    """Served instead of a symbol's CSV when set: how tests meet a broken file."""


class WireFormsUpdate(BaseModel):
    """``POST /_sim/protocol``: the settings to change; the others keep their value."""

    model_config = ConfigDict(extra="forbid", strict=True)

    symbol_data: SymbolDataForm | None = None
    strategy_code: StrategyCodeForm | None = None
    file_body: str | None = None


class WireSettings:
    """The current forms, the start-up ones to go back to, and who downloaded symbol files."""

    def __init__(self, initial: WireForms) -> None:
        self._initial = initial
        self._current = initial
        self._lock = threading.Lock()
        self._downloads = 0
        self._with_credentials = 0

    @property
    def current(self) -> WireForms:
        with self._lock:
            return self._current

    def update(self, change: WireFormsUpdate) -> WireForms:
        with self._lock:
            self._current = replace(self._current, **change.model_dump(exclude_unset=True))
            return self._current

    def reset(self) -> WireForms:
        with self._lock:
            self._current = self._initial
            self._downloads = self._with_credentials = 0
            return self._current

    def downloaded(self, *, with_credentials: bool) -> None:
        with self._lock:
            self._downloads += 1
            self._with_credentials += int(with_credentials)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                **asdict(self._current),
                "file_downloads": self._downloads,
                "file_downloads_with_credentials": self._with_credentials,
            }


def wire_form_routes(settings: WireSettings, respond: Callable[[Any, int], Response]) -> APIRouter:
    """``GET``/``POST``/``DELETE /_sim/protocol``: read, change, or go back to the start-up forms."""
    routes = APIRouter(prefix="/_sim")

    @routes.get("/protocol")
    def read() -> Response:
        return respond(settings.snapshot(), 200)

    @routes.post("/protocol")
    def change(update: WireFormsUpdate) -> Response:
        settings.update(update)
        return respond(settings.snapshot(), 200)

    @routes.delete("/protocol")
    def reset() -> Response:
        settings.reset()
        return respond(settings.snapshot(), 200)

    return routes
