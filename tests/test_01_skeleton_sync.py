"""Is the released skeleton of 01_kernel_convolution exactly the solution with its regions cleared?

Until the release pipeline generates it, `assignments/01_kernel_convolution/convolution.py` is
written by hand; these tests regenerate it the way nbgrader's ClearSolutions does and compare.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOLUTION = ROOT / "solutions" / "01_kernel_convolution" / "convolution.py"
SKELETON = ROOT / "assignments" / "01_kernel_convolution" / "convolution.py"
STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")
BEGIN, END = "BEGIN SOLUTION", "END SOLUTION"


def clear_solutions(source: str) -> str:
    """Replace each marked region (markers included) by nbgrader's Python stub, same indent."""
    lines, inside = [], False
    for line in source.split("\n"):
        if BEGIN in line:
            if inside:
                raise ValueError(f"nested {BEGIN}: {line!r}")
            inside = True
            indent = re.match(r"\s*", line).group(0)
            lines += [indent + stub for stub in STUB]
        elif END in line:
            if not inside:
                raise ValueError(f"{END} without {BEGIN}: {line!r}")
            inside = False
        elif not inside:
            lines.append(line)
    if inside:
        raise ValueError(f"{BEGIN} without {END}")
    return "\n".join(lines)


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


def test_skeleton_is_the_solution_with_regions_cleared():
    """Does the committed skeleton equal a fresh clear of the solution's regions?"""
    expected = clear_solutions(SOLUTION.read_text(encoding="utf-8"))
    assert SKELETON.read_text(encoding="utf-8") == expected, (
        f"{SKELETON.relative_to(ROOT)} is out of date: regenerate it from "
        f"{SOLUTION.relative_to(ROOT)} with clear_solutions()")


def test_no_solution_line_leaks_into_the_skeleton():
    """Is every solution line (and every marker) absent from the skeleton?"""
    skeleton = SKELETON.read_text(encoding="utf-8")
    solution = SOLUTION.read_text(encoding="utf-8")
    # scaffold lines (outside the regions) may repeat inside one, e.g. `if bias is not None:`
    scaffold = {line.strip() for line in clear_solutions(solution).split("\n")}
    skeleton_lines = {line.strip() for line in skeleton.split("\n")}
    leaked = [line for line in solution_lines(solution)
              if line in skeleton_lines and line not in scaffold]
    assert not leaked, f"solution lines found in the skeleton: {leaked}"
    assert BEGIN not in skeleton and END not in skeleton


def test_every_public_function_has_one_region_and_raises_in_the_skeleton():
    """Does each graded function hold exactly one region, cleared to a raise in the skeleton?"""
    solution = ast.parse(SOLUTION.read_text(encoding="utf-8"))
    public = [node for node in solution.body
              if isinstance(node, ast.FunctionDef) and not node.name.startswith("_")]
    source_lines = SOLUTION.read_text(encoding="utf-8").split("\n")
    for function in public:
        body = source_lines[function.lineno - 1:function.end_lineno]
        assert sum(BEGIN in line for line in body) == 1, function.name
    skeleton = ast.parse(SKELETON.read_text(encoding="utf-8"))
    for node in skeleton.body:
        if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
            raises = [n for n in ast.walk(node) if isinstance(n, ast.Raise)
                      and isinstance(n.exc, ast.Call)
                      and getattr(n.exc.func, "id", "") == "NotImplementedError"]
            assert len(raises) == 1, node.name


def test_clear_solutions_agrees_with_nbgrader():
    """Does our region clearing give the same text as nbgrader's ClearSolutions?"""
    preprocessors = pytest.importorskip("nbgrader.preprocessors")
    from nbformat.v4 import new_code_cell

    cell = new_code_cell(SOLUTION.read_text(encoding="utf-8"))
    preprocessors.ClearSolutions()._replace_solution_region(cell, "python")
    assert cell.source == clear_solutions(SOLUTION.read_text(encoding="utf-8"))
