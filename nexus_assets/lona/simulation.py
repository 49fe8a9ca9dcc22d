"""The ``simulation_parameters`` of a Lona run, in the shape the original backend sends.

The original Trade Nexus backend always sends the whole object (its ``LonaSimulationParameters``
with defaults), so a run never depends on the gateway's own defaults; this does the same and
checks the values before they leave, naming the field that is wrong.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from nexus_assets.lona.errors import LonaRequestError


@dataclass(frozen=True)
class SimulationParameters:
    initial_cash: float = 100_000.0
    commission: float = 0.001
    """A fraction of notional per side; sent as ``commission_schema.commission``."""
    leverage: float = 1.0
    """Sent as ``commission_schema.leverage``."""
    buy_on_close: bool = True

    def __post_init__(self) -> None:
        for name in ("initial_cash", "commission", "leverage"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise LonaRequestError(
                    f"simulation_parameters.{name}: expected a finite number, got {value!r}"
                )
        if self.initial_cash <= 0:
            raise LonaRequestError("simulation_parameters.initial_cash: must be positive")
        if self.commission < 0:
            raise LonaRequestError("simulation_parameters.commission: must not be negative")
        if self.leverage <= 0:
            raise LonaRequestError("simulation_parameters.leverage: must be positive")
        if not isinstance(self.buy_on_close, bool):
            raise LonaRequestError(
                f"simulation_parameters.buy_on_close: expected true or false, got {self.buy_on_close!r}"
            )

    def to_json(self) -> dict[str, Any]:
        return {
            "initial_cash": self.initial_cash,
            "commission_schema": {"commission": self.commission, "leverage": self.leverage},
            "buy_on_close": self.buy_on_close,
        }
