"""What a student export keeps of an assignment's hidden checks: their titles and points only.

The export drops `test_hidden.py` and writes `hidden_checks.json` in its place, so a student's
grading lists each hidden check as "graded by your instructor" instead of silently leaving it
out. The titles and points are read from the check file's syntax tree: nothing is imported.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path


class HiddenChecksError(Exception):
    """A hidden check file the export cannot describe; the message names the check."""


def describe(check_file: Path) -> list[tuple[str, float]]:
    """(title, points) of every check in `check_file`, in file order."""
    tree = ast.parse(check_file.read_text(encoding="utf-8"), filename=str(check_file))
    found = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
            doc = (ast.get_docstring(node) or "").strip()
            title = doc.splitlines()[0].strip() if doc else node.name
            found.append((title, _points(node, check_file)))
    return found


def _points(node: ast.FunctionDef, check_file: Path) -> float:
    for decorator in node.decorator_list:
        if (isinstance(decorator, ast.Call) and isinstance(decorator.func, ast.Attribute)
                and decorator.func.attr == "points" and len(decorator.args) == 1):
            try:
                return float(ast.literal_eval(decorator.args[0]))
            except ValueError:
                break
    raise HiddenChecksError(f"{check_file.name}::{node.name}: a hidden check needs "
                            "@pytest.mark.points(<number>) with a literal number")


def write_manifest(check_file: Path, manifest: Path) -> None:
    entries = [{"title": title, "points": points} for title, points in describe(check_file)]
    manifest.write_text(json.dumps(entries, indent=2) + "\n", encoding="utf-8")


def read_manifest(manifest: Path) -> list[tuple[str, float]]:
    return [(str(e["title"]), float(e["points"]))
            for e in json.loads(manifest.read_text(encoding="utf-8"))]
