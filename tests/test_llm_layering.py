"""Layering: only extract/llm/client.py talks to openai/instructor; the LLM package never reaches into the CLI."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROVIDER_PACKAGES = {"openai", "instructor"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0] if not node.module.startswith("extract.") else node.module)
    return found


def test_only_the_client_imports_the_provider_libraries() -> None:
    offenders = [str(path.relative_to(ROOT)) for package in ("extract", "schemas")
                 for path in sorted((ROOT / package).rglob("*.py"))
                 if path.name != "client.py" or path.parent.name != "llm"
                 if _imports(path) & PROVIDER_PACKAGES]
    assert offenders == []
    assert _imports(ROOT / "extract" / "llm" / "client.py") >= PROVIDER_PACKAGES


def test_the_llm_package_does_not_import_the_command_line() -> None:
    for path in sorted((ROOT / "extract" / "llm").glob("*.py")):
        assert not any(name.startswith(("extract.cli", "typer", "rich")) for name in _imports(path)), path.name
