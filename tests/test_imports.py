"""Every `from steward_package import name` in the repository resolves.

mypy runs with ignore_missing_imports (for third-party packages without stubs), so a module that
moved and an import left behind inside a function would only fail when that function runs.
"""

from __future__ import annotations

import ast
import importlib
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OURS = ("features", "models", "pipelines", "serving", "bench", "tests")


def _imports() -> list[tuple[str, int, str, list[str]]]:
    """(file, line, module, names) of every absolute import of our packages, in functions too."""
    files = subprocess.run(
        ["git", "ls-files", "*.py"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    found = []
    for name in files:
        tree = ast.parse((ROOT / name).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                if node.module.split(".")[0] in OURS:
                    found.append((name, node.lineno, node.module, [a.name for a in node.names]))
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] in OURS:
                        found.append((name, node.lineno, alias.name, []))
    return found


def _resolves(module: str, name: str | None) -> bool:
    """Whether `module` imports and has `name` (an attribute or a submodule)."""
    try:
        found = importlib.import_module(module)
    except ImportError:
        return False
    if name is None or hasattr(found, name):
        return True
    try:
        importlib.import_module(f"{module}.{name}")
    except ImportError:
        return False
    return True


def test_every_import_of_our_packages_resolves() -> None:
    imports = _imports()
    assert len(imports) > 500  # the walk saw the code base, not an empty list
    broken = [
        f"{file}:{line}: {module}{'.' + name if name else ''}"
        for file, line, module, names in imports
        for name in (names or [None])
        if not _resolves(module, name)
    ]
    assert broken == []


def test_a_moved_module_would_be_caught() -> None:
    assert not _resolves("features", "member_features")  # the module before issue 18
    assert not _resolves("features.scores.at_risk", "no_such_name")
    assert _resolves("features.scores.at_risk", "AtRiskTable")
