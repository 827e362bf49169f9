"""Are the released skeletons in assignments/ exactly the solutions with their regions cleared?

Until the release pipeline generates them, the skeletons are committed by hand. Each must equal
its solution with every `### BEGIN SOLUTION` / `### END SOLUTION` region replaced by nbgrader's
Python stub, exactly as nbgrader's own `ClearSolutions` preprocessor does it (its method is
called on the module's source, as if the module were one code cell).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MODULES = {
    "01_kernel_convolution": "convolution.py",
    "02_mlp_baseline": "mlp.py",
    "03_fashion_cnn": "cnn.py",
}
# The graded API of DESIGN.md: each of these functions is the student's to write.
GRADED = {
    "01_kernel_convolution": ("correlate2d", "convolve2d", "output_size", "conv2d", "max_pool2d",
                              "avg_pool2d", "relu", "box_blur", "sharpen", "sobel",
                              "edge_magnitude"),
    "02_mlp_baseline": ("preprocess", "build_mlp", "train"),
    "03_fashion_cnn": ("preprocess", "build_simple_cnn", "build_cnn", "train"),
}
BEGIN, END = "BEGIN SOLUTION", "END SOLUTION"


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


def _sources(assignment: str) -> tuple[str, str]:
    name = MODULES[assignment]
    solution = ROOT / "solutions" / assignment / name
    skeleton = ROOT / "assignments" / assignment / name
    return solution.read_text(encoding="utf-8"), skeleton.read_text(encoding="utf-8")


@pytest.mark.parametrize("assignment", MODULES)
def test_skeleton_is_the_solution_with_regions_cleared(assignment):
    """Does the committed skeleton equal a fresh clear of the solution's regions?"""
    solution, skeleton = _sources(assignment)
    assert skeleton == clear_solutions(solution), (
        f"assignments/{assignment}/{MODULES[assignment]} is out of date: regenerate it from "
        f"solutions/{assignment}/{MODULES[assignment]} with clear_solutions()")


@pytest.mark.parametrize("assignment", MODULES)
def test_no_solution_line_leaks_into_the_skeleton(assignment):
    """Is every solution line (and every marker) absent from the skeleton?"""
    solution, skeleton = _sources(assignment)
    # scaffold lines (outside the regions) may repeat inside one, e.g. `if bias is not None:`
    scaffold = {line.strip() for line in clear_solutions(solution).split("\n")}
    skeleton_lines = {line.strip() for line in skeleton.split("\n")}
    leaked = [line for line in solution_lines(solution)
              if line in skeleton_lines and line not in scaffold]
    assert not leaked, f"solution lines found in the skeleton: {leaked}"
    assert BEGIN not in skeleton and END not in skeleton


@pytest.mark.parametrize("assignment", MODULES)
def test_each_graded_function_has_one_region_and_raises_in_the_skeleton(assignment):
    """Does each graded function hold one region, cleared to `raise NotImplementedError()`?"""
    solution, skeleton = _sources(assignment)
    lines = solution.split("\n")
    graded = [node for node in ast.parse(solution).body
              if isinstance(node, ast.FunctionDef) and node.name in GRADED[assignment]]
    assert {node.name for node in graded} == set(GRADED[assignment])
    for node in graded:
        body = lines[node.lineno - 1:node.end_lineno]
        assert sum(BEGIN in line for line in body) == 1, f"{node.name}: expected one region"
        assert sum(END in line for line in body) == 1, f"{node.name}: expected one region"
    for node in ast.parse(skeleton).body:
        if isinstance(node, ast.FunctionDef) and node.name in GRADED[assignment]:
            raises = [n for n in ast.walk(node) if isinstance(n, ast.Raise)
                      and isinstance(n.exc, ast.Call)
                      and getattr(n.exc.func, "id", None) == "NotImplementedError"]
            assert len(raises) == 1, f"{node.name}: the skeleton should raise once"


@pytest.mark.parametrize("assignment", MODULES)
def test_readme_is_the_same_in_solutions_and_assignments(assignment):
    """Is the student README in assignments/ a copy of the one in solutions/?"""
    solution = ROOT / "solutions" / assignment / "README.md"
    release = ROOT / "assignments" / assignment / "README.md"
    assert release.read_text(encoding="utf-8") == solution.read_text(encoding="utf-8")
