"""The student's self-check (`make test` in a student repository): is the setup sound?

It does not grade anything (`make grade` does): it checks that the course files are where
the grader looks for them, that every graded function still exists under its name, and that
the grader and the data loader start.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from autograder import registry

ROOT = Path(__file__).resolve().parents[2]
COURSE = registry.load(ROOT / "course.toml")


@pytest.mark.parametrize("assignment", list(COURSE.assignments))
def test_every_graded_function_is_still_there(assignment):
    """Does each assignment's module parse, with every graded function under its name?"""
    entry = COURSE.get(assignment)
    module = ROOT / "assignments" / assignment / entry.module_file
    assert module.is_file(), f"{module} is missing: keep the file name and folder"
    try:
        tree = ast.parse(module.read_text(encoding="utf-8"), filename=str(module))
    except SyntaxError as error:
        pytest.fail(f"{module.name} line {error.lineno}: {error.msg}")
    defined = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    missing = [name for name in entry.functions if name not in defined]
    assert not missing, f"{module.name} lost {missing}: keep the names of the template"


@pytest.mark.parametrize("assignment", list(COURSE.assignments))
def test_the_checks_are_where_the_grader_looks(assignment):
    """Does every assignment have its public checks in course/<id>/?"""
    assert (COURSE.check_folder(assignment) / registry.PUBLIC_CHECKS).is_file()


def test_the_grader_starts():
    """Does `python -m autograder --help` run (the engine and its libraries import)?"""
    done = subprocess.run([sys.executable, "-m", "autograder", "grade", "--help"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "--submission" in done.stdout


def test_the_data_loader_knows_where_to_look():
    """Does the data loader import and name the folders it searches?"""
    from dlcourse import data

    assert data.data_dirs(), "no data folder configured"
