"""The pipeline's layering: a lower layer never imports a higher one.

Read from the source with ``ast`` (no import-linter dependency): each module's top-level
folder (or module) has a rank; an import of a higher rank fails, naming file and import.
docs/design.md draws the same order.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "labrecog"

#: lowest first: the words and units everything shares, the models, then the pipeline
#: (load → compile → check → decide), the engine, presentation, and the integrations.
LAYERS = (
    "_errors",
    "words",
    "units",
    "model",
    "load",
    "compile",
    "check",
    "decide",
    "engine",
    "output",
    "fhir",
    "batch",
    "authoring",
    "testing",
    "lint",
    "dask",
    "server",
    "cli",
    "__main__",
)
#: may import ``labrecog`` itself (the public surface, e.g. ``__version__``)
TOP = frozenset({"dask", "server", "cli", "__main__"})


def _imports(path: Path) -> list[str]:
    out: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append(node.module)
        elif isinstance(node, ast.Import):
            out.extend(alias.name for alias in node.names)
    return [m for m in out if m == "labrecog" or m.startswith("labrecog.")]


def violations(package: Path = PACKAGE) -> list[str]:
    found: list[str] = []
    for path in sorted(package.rglob("*.py")):
        layer = path.relative_to(package).parts[0].removesuffix(".py")
        if layer == "__init__":
            continue  # the package surface re-exports from every layer
        rank = LAYERS.index(layer)
        for module in _imports(path):
            parts = module.split(".")
            if len(parts) == 1:
                if layer not in TOP:
                    found.append(f"{path.relative_to(package)}: imports labrecog itself")
                continue
            if LAYERS.index(parts[1]) > rank:
                found.append(f"{path.relative_to(package)}: {layer} imports {module}")
    return found


def test_every_folder_has_a_layer() -> None:
    names = {p.name.removesuffix(".py") for p in PACKAGE.iterdir() if not p.name.startswith(".")}
    names -= {"__init__", "__pycache__", "py.typed"}
    names -= {"rulesets"}  # package data (the shipped rule sets' YAML), no Python
    assert names <= set(LAYERS), names - set(LAYERS)


def test_no_lower_layer_imports_a_higher_one() -> None:
    assert violations() == []


def test_the_check_detects_an_upward_import(tmp_path: Path) -> None:
    """The check can fail: in a copy-shaped tree, a check importing output is reported."""
    (tmp_path / "check").mkdir()
    (tmp_path / "check" / "bad.py").write_text(
        "from labrecog.output._explain_table import explanation\nimport labrecog\n",
        encoding="utf-8",
    )
    assert violations(tmp_path) == [
        "check/bad.py: check imports labrecog.output._explain_table",
        "check/bad.py: imports labrecog itself",
    ]
