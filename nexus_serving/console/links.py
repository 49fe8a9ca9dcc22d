"""Links from the console to the tools its figures come from: the Dagster UI and MLflow's.

Only an http(s) base gets links: a file or database tracking URI has no UI a browser can open.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote


def _web(base: str | None) -> str | None:
    return base.rstrip("/") if base and base.startswith(("http://", "https://")) else None


@dataclass(frozen=True)
class Links:
    dagster: str | None
    mlflow: str | None

    @classmethod
    def of(cls, dagster_url: str | None, tracking_uri: str | None) -> Links:
        return cls(_web(dagster_url), _web(tracking_uri))

    def asset(self, key: str) -> str | None:
        return None if self.dagster is None else f"{self.dagster}/assets/{quote(key)}"

    def checks(self, key: str) -> str | None:
        return None if self.dagster is None else f"{self.dagster}/assets/{quote(key)}?view=checks"

    def run(self, run_id: str | None) -> str | None:
        return None if self.dagster is None or not run_id else f"{self.dagster}/runs/{quote(run_id)}"

    def model_version(self, name: str, version: str) -> str | None:
        if self.mlflow is None:
            return None
        return f"{self.mlflow}/#/models/{quote(name)}/versions/{quote(version)}"

    def mlflow_run(self, run_id: str | None) -> str | None:
        return None if self.mlflow is None or not run_id else f"{self.mlflow}/#/runs/{quote(run_id)}"
