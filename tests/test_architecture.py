"""Layering rules that keep batch and serving on one implementation."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ORCHESTRATION = ("dagster", "dagster_graphql", "nexus_assets.defs", "nexus_assets.resources")
WEB = ("fastapi", "nexus_serving")
# ml/ is shared by training and serving; lona/ and marketdata/ are clients and parsers any
# process may use; sim/ serves HTTP stand-ins (FastAPI) but must not need Dagster.
RULES = {
    "nexus_assets/ml": ORCHESTRATION + WEB,
    "nexus_assets/lona": ORCHESTRATION + WEB,
    "nexus_assets/live_engine": ORCHESTRATION + WEB,
    "nexus_assets/marketdata": ORCHESTRATION + WEB,
    "nexus_assets/news": ORCHESTRATION + WEB,
    "nexus_assets/sim": (*ORCHESTRATION, "nexus_serving"),
}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize(("package", "forbidden"), RULES.items())
def test_pure_packages_import_no_framework(package, forbidden):
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            name for name in _imports(path) if any(name == f or name.startswith(f + ".") for f in forbidden)
        )
        for path in (ROOT / package).rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_importing_the_package_and_ml_loads_no_dagster():
    code = (
        "import sys, nexus_assets, nexus_assets.ml.features, nexus_assets.ml.bars;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dagster', 'fastapi')))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
