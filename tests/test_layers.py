"""The layer contracts in pyproject.toml hold, and they are live: the same contracts
over a copy of the tree with one forbidden import added fail, naming it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow  # lint-imports builds the import graph in a subprocess


def lint(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from importlinter.cli import lint_imports_command; "
                           "lint_imports_command()", "--config", str(root / "pyproject.toml"),
                           "--no-cache"], cwd=root, capture_output=True, text=True, timeout=300,
                          env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"})


def test_the_contracts_hold() -> None:
    done = lint(REPO)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("KEPT") >= 3


def test_a_forbidden_import_breaks_its_contract(tmp_path: Path) -> None:
    for part in ("ottwatch", "agent", "storage", "tui", "fixtures"):
        shutil.copytree(REPO / part, tmp_path / part,
                        ignore=shutil.ignore_patterns("__pycache__", "*.mmdb", "*.jsonl"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    console = tmp_path / "tui" / "help.py"
    console.write_text(console.read_text(encoding="utf-8") + "\nimport agent.runner  # noqa\n",
                       encoding="utf-8")
    done = lint(tmp_path)
    assert done.returncode != 0
    assert "the console never imports the agent BROKEN" in done.stdout
    assert "tui.help -> agent.runner" in done.stdout


def test_the_vocabulary_floor_imports_nothing_of_the_project() -> None:
    import ast

    tree = ast.parse((REPO / "ottwatch" / "vocabulary.py").read_text(encoding="utf-8"))
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    project = ("ottwatch", "agent", "storage", "tui", "fixtures")
    assert not [name for name in imported if name.split(".")[0] in project], imported
