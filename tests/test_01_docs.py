"""Does the README of 01_kernel_convolution state the checks and points the grader uses?"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ASSIGNMENT = "01_kernel_convolution"
README = ROOT / "solutions" / ASSIGNMENT / "README.md"
CHECKS = ROOT / "autograder" / "tests" / f"test_{ASSIGNMENT}.py"
ROW = re.compile(r"^\| (\d+) \| (.+?) \| (\d+) \|(.*)\|$")


def checks() -> list[tuple[str, int, bool]]:
    """(title, points, hidden) of every check, in file order."""
    found = []
    for node in ast.parse(CHECKS.read_text(encoding="utf-8")).body:
        if not (isinstance(node, ast.FunctionDef) and node.name.startswith("test_")):
            continue
        marks = {ast.unparse(d).removeprefix("pytest.mark."): d for d in node.decorator_list}
        points = next(d.args[0].value for name, d in marks.items() if name.startswith("points("))
        found.append((ast.get_docstring(node).splitlines()[0], points, "hidden" in marks))
    return found


def test_readme_table_lists_every_check_with_its_points():
    """Does the README's grading table match the checks' titles, points and visibility?"""
    rows = [ROW.match(line) for line in README.read_text(encoding="utf-8").splitlines()]
    table = [(m[2], int(m[3]), "hidden" in m[4]) for m in rows if m]
    assert table == checks()
    assert sum(points for _, points, _ in table) == 100


def test_released_readme_equals_the_solution_readme():
    """Is assignments/01_kernel_convolution/README.md the same as the solution's?"""
    release = ROOT / "assignments" / ASSIGNMENT / "README.md"
    assert release.read_bytes() == README.read_bytes()
