"""Are the released skeletons of 02_mlp_baseline and 03_fashion_cnn the solutions, cleared?

Each committed skeleton in `assignments/` must equal its solution in `solutions/` with every
`### BEGIN SOLUTION` / `### END SOLUTION` region replaced by nbgrader's Python stub, exactly
as nbgrader's own `ClearSolutions` preprocessor does it (its method is called here on the
module's source, as if the module were one code cell).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MODULES = {
    "02_mlp_baseline": ("mlp.py", ("preprocess", "build_mlp", "train")),
    "03_fashion_cnn": ("cnn.py", ("preprocess", "build_simple_cnn", "build_cnn", "train")),
}
BEGIN, END = "BEGIN SOLUTION", "END SOLUTION"
STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")


def clear_solutions(source: str) -> str:
    """The source with every solution region replaced by nbgrader's stub (same indentation)."""
    from nbformat.v4 import new_code_cell
    from nbgrader.preprocessors import ClearSolutions

    cell = new_code_cell(source)
    if not ClearSolutions()._replace_solution_region(cell, "python"):
        raise ValueError("the source has no solution region")
    return cell.source


def solution_lines(source: str) -> list[str]:
    """The stripped, non-blank lines inside the marked regions."""
    found, inside = [], False
    for line in source.split("\n"):
        if BEGIN in line:
            inside = True
        elif END in line:
            inside = False
        elif inside and line.strip():
            found.append(line.strip())
    return found


def _paths(assignment: str) -> tuple[Path, Path]:
    name = MODULES[assignment][0]
    return ROOT / "solutions" / assignment / name, ROOT / "assignments" / assignment / name


@pytest.mark.parametrize("assignment", sorted(MODULES))
def test_skeleton_is_the_solution_with_regions_cleared(assignment):
    """Does the committed skeleton equal a fresh clear of the solution's regions?"""
    solution, skeleton = _paths(assignment)
    expected = clear_solutions(solution.read_text(encoding="utf-8"))
    assert skeleton.read_text(encoding="utf-8") == expected, (
        f"{skeleton.relative_to(ROOT)} is out of date: regenerate it from "
        f"{solution.relative_to(ROOT)} with clear_solutions()")


@pytest.mark.parametrize("assignment", sorted(MODULES))
def test_no_solution_line_leaks_into_the_skeleton(assignment):
    """Is every solution line (and every marker) absent from the skeleton?"""
    solution_path, skeleton_path = _paths(assignment)
    solution = solution_path.read_text(encoding="utf-8")
    skeleton = skeleton_path.read_text(encoding="utf-8")
    scaffold = {line.strip() for line in clear_solutions(solution).split("\n")}
    skeleton_lines = {line.strip() for line in skeleton.split("\n")}
    leaked = [line for line in solution_lines(solution)
              if line in skeleton_lines and line not in scaffold]
    assert not leaked, f"solution lines found in the skeleton: {leaked}"
    assert BEGIN not in skeleton and END not in skeleton


@pytest.mark.parametrize("assignment", sorted(MODULES))
def test_each_graded_function_has_one_region_and_raises_in_the_skeleton(assignment):
    """Does each graded function hold one region, cleared to `raise NotImplementedError()`?"""
    solution_path, skeleton_path = _paths(assignment)
    graded = MODULES[assignment][1]
    solution = solution_path.read_text(encoding="utf-8")
    skeleton = ast.parse(skeleton_path.read_text(encoding="utf-8"))
    functions = {node.name: node for node in ast.parse(solution).body
                 if isinstance(node, ast.FunctionDef)}
    lines = solution.split("\n")
    for name in graded:
        node = functions[name]
        body = lines[node.lineno - 1:node.end_lineno]
        assert sum(BEGIN in line for line in body) == 1, f"{name}: expected one region"
        assert sum(END in line for line in body) == 1, f"{name}: expected one region"
    for node in skeleton.body:
        if isinstance(node, ast.FunctionDef) and node.name in graded:
            raises = [n for n in ast.walk(node) if isinstance(n, ast.Raise)
                      and isinstance(n.exc, ast.Call)
                      and getattr(n.exc.func, "id", None) == "NotImplementedError"]
            assert raises, f"{node.name}: the skeleton should raise NotImplementedError()"


@pytest.mark.parametrize("assignment", sorted(MODULES))
def test_readme_is_the_same_in_solutions_and_assignments(assignment):
    """Is the student README in assignments/ a copy of the one in solutions/?"""
    solution = ROOT / "solutions" / assignment / "README.md"
    release = ROOT / "assignments" / assignment / "README.md"
    assert release.read_text(encoding="utf-8") == solution.read_text(encoding="utf-8")
