"""The checks of a course assignment as its files declare them, for the discrimination tests."""

from __future__ import annotations

import ast

from autograder import registry
from autograder.registry import HIDDEN_CHECKS, PUBLIC_CHECKS

COURSE = registry.load()


def check_table(assignment: str) -> list[tuple[str, str, float, bool]]:
    """(function name, title, points, hidden) of every check: public file, then hidden file."""
    found = []
    for file_name in (PUBLIC_CHECKS, HIDDEN_CHECKS):
        path = COURSE.check_folder(assignment) / file_name
        if not path.is_file():
            continue
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                points = next(d.args[0].value for d in node.decorator_list
                              if ast.unparse(d).startswith("pytest.mark.points("))
                title = ast.get_docstring(node).strip().splitlines()[0]
                found.append((node.name, title, points, file_name == HIDDEN_CHECKS))
    return found


def check_titles(assignment: str) -> dict[str, str]:
    """Check function name -> its title (first docstring line), the `name` in results.json."""
    return {name: title for name, title, _, _ in check_table(assignment)}
