"""The package's shape: folders follow the data path, and no import runs upward."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "bulkflow"
# Lowest first: a module may import from its own layer and the ones below it.
LAYERS = (
    ("errors", "secrets", "diagnostics", "runconfig", "_version"),
    ("job", "planner", "plantext", "guardrails", "undo"),
    ("flowservice",),
    ("records",),
    ("engine",),
    ("runner",),
    ("cli", "__main__"),
)


def _layer(module: str) -> int:
    head = module.split(".")[1] if "." in module else ""
    for index, heads in enumerate(LAYERS):
        if head in heads:
            return index
    return len(LAYERS)  # bulkflow/__init__.py: the public names, above everything


def _imports() -> dict[str, set[str]]:
    """Each module of bulkflow (sim included) and the bulkflow modules it imports."""
    found: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "bulkflow":
                names.update(f"bulkflow.{a.name}" for a in node.names)  # from bulkflow import x
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("bulkflow"):
                names.add(str(node.module))
            elif isinstance(node, ast.Import):
                names.update(a.name for a in node.names if a.name.startswith("bulkflow"))
        found[module] = names
    return found


def test_no_import_runs_upward() -> None:
    """job → planner → flowservice → records → engine → runner → cli: nothing imports above it."""
    upward = [
        f"{module} imports {name}"
        for module, names in _imports().items()
        if not module.startswith("bulkflow.sim")
        for name in names
        if not name.startswith("bulkflow.sim") and _layer(name) > _layer(module)
    ]
    assert upward == []


def test_the_simulator_imports_nothing_of_the_product() -> None:
    """bulkflow.sim stands apart: it imports only itself."""
    outside = [
        f"{module} imports {name}"
        for module, names in _imports().items()
        if module.startswith("bulkflow.sim")
        for name in names
        if not name.startswith("bulkflow.sim")
    ]
    assert outside == []


def test_only_the_cli_starts_a_simulator() -> None:
    """Of the product, only ``cli`` (``--sim``, ``bulkflow sim``) imports the simulator."""
    users = {
        module
        for module, names in _imports().items()
        if not module.startswith("bulkflow.sim")
        and any(n.startswith("bulkflow.sim") for n in names)
    }
    assert all(module.startswith("bulkflow.cli") for module in users), users
