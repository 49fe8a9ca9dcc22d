"""Layering rules that keep batch and serving on one implementation, and the house free of circles."""

from __future__ import annotations

import ast
import graphlib
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("nexus_assets", "nexus_serving")
ORCHESTRATION = ("dagster", "dagster_graphql", "nexus_assets.defs", "nexus_assets.resources")
WEB = ("fastapi", "starlette", "uvicorn", "nexus_serving")
NETWORK = ("httpx", "langchain", "langchain_core", "langchain_xai", "langchain_openai", "langsmith", "openai")
# ml/ is shared by training and serving and does no network I/O (the LLM calls are llm/'s);
# lona/, live_engine/, marketdata/ and news/ are clients and parsers any process may use;
# sim/ serves HTTP stand-ins (FastAPI) but must not need Dagster; serving never needs sim/.
RULES = {
    "nexus_assets/ml": ORCHESTRATION + WEB + NETWORK + ("nexus_assets.llm", "nexus_assets.sim"),
    "nexus_assets/llm": ORCHESTRATION + WEB,
    "nexus_assets/lona": ORCHESTRATION + WEB,
    "nexus_assets/live_engine": ORCHESTRATION + WEB,
    "nexus_assets/marketdata": ORCHESTRATION + WEB,
    "nexus_assets/news": ORCHESTRATION + WEB,
    "nexus_assets/sim": (*ORCHESTRATION, "nexus_serving"),
    "nexus_serving": (*ORCHESTRATION, "nexus_assets.sim", "nexus_assets.llm", "torch"),
}
MLFLOW_AT_IMPORT = ("nexus_assets/ml/registry", "nexus_assets/ml/lifecycle")
"""The only parts of ml/ whose modules import MLflow when they are imported."""


def _imports(path: Path, *, top_level_only: bool = False) -> set[str]:
    """Modules ``path`` imports; with ``top_level_only``, those its import runs (not inside functions)."""
    names: set[str] = set()
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    for node in nodes:
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _forbidden(names: set[str], forbidden: tuple[str, ...]) -> list[str]:
    return sorted(n for n in names if any(n == f or n.startswith(f + ".") for f in forbidden))


@pytest.mark.parametrize(("package", "forbidden"), RULES.items())
def test_packages_import_only_what_their_layer_allows(package, forbidden):
    offenders = {
        str(path.relative_to(ROOT)): _forbidden(_imports(path), forbidden)
        for path in (ROOT / package).rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_ml_imports_mlflow_at_import_time_only_in_registry_and_lifecycle():
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "nexus_assets/ml").rglob("*.py")
        if not str(path.relative_to(ROOT)).startswith(MLFLOW_AT_IMPORT)
        and _forbidden(_imports(path, top_level_only=True), ("mlflow",))
    ]
    assert offenders == []


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _top_level(tree: ast.Module) -> list[ast.stmt]:
    statements: list[ast.stmt] = []
    for node in tree.body:
        statements.append(node)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            statements += node.body
    return statements


def _module_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports at top level, ``if TYPE_CHECKING:`` blocks included
    (a circle hidden from the interpreter is still one in the design)."""
    files = [path for package in PACKAGES for path in (ROOT / package).rglob("*.py")]
    modules = {_module_name(path): path for path in files}

    def nearest_module(name: str) -> str:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name

    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = set()
        for node in _top_level(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets.update(nearest_module(alias.name) for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                # ``from pkg import name``: the submodule ``pkg.name`` if there is one, else ``pkg``.
                targets.update(nearest_module(f"{node.module}.{alias.name}") for alias in node.names)
        graph[name] = targets - {"", name}
    return graph


def test_no_import_circle_anywhere():
    graph = _module_graph()
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as circle:
        pytest.fail(f"import circle: {' -> '.join(circle.args[1])}")


def _loaded_after(statement: str, roots: tuple[str, ...]) -> list[str]:
    code = (
        f"import sys; {statement}; print(sorted({{m.split('.')[0] for m in sys.modules}} & {set(roots)!r}))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return eval(result.stdout.strip())


def test_importing_ml_and_every_component_face_loads_no_framework_or_client():
    faces = "anomaly predictor volatility optimizer portfolio replay metalabel sentiment review registry lifecycle"
    statement = "import nexus_assets, nexus_assets.ml.features, nexus_assets.ml.bars; " + "; ".join(
        f"import nexus_assets.ml.{face}" for face in faces.split()
    )
    roots = ("dagster", "fastapi", "httpx", "langchain_core", "langchain_xai", "mlflow", "torch")
    assert _loaded_after(statement, roots) == []


def test_serving_path_of_ml_loads_no_mlflow_torch_or_optimizer():
    """What the decision service computes with: features, bar window, policy, volatility inputs."""
    statement = (
        "import nexus_assets.ml.features, nexus_assets.ml.anomaly.bar_window, "
        "nexus_assets.ml.portfolio.policy, nexus_assets.ml.volatility.inputs, nexus_assets.ml.kernels"
    )
    assert _loaded_after(statement, ("mlflow", "torch", "cvxpy", "sklearn", "dagster")) == []


def test_loading_the_code_location_imports_no_torch():
    assert _loaded_after("import nexus_assets.definitions as d; d.defs", ("torch",)) == []
