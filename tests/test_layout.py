"""The repository keeps its documented layout (README "What is where") and its promises."""

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TOP_LEVEL = ["README.md", "requirements.txt", "pyproject.toml", "Makefile", "nbgrader_config.py",
             "assignments", "solutions", "autograder", "dlcourse", "datasets", "tests",
             "benchmarks", ".github", ".ci/run", "course", "course.toml"]
DATA_SUFFIXES = (".gz", ".npz", ".npy", "-ubyte", ".tar", ".pkl")


@pytest.mark.parametrize("name", TOP_LEVEL)
def test_layout_entry_exists(name):
    """Is every top-level entry of the documented layout there?"""
    assert (ROOT / name).exists(), f"{name} is missing from the repository root"


def test_every_folder_says_what_it_is_for():
    """Does every top-level folder have a README that says what lives there?"""
    for folder in ["assignments", "solutions", "autograder", "course", "datasets", "benchmarks"]:
        assert (ROOT / folder / "README.md").is_file(), f"{folder}/README.md is missing"


def test_quick_start_and_ci_name_the_same_commands():
    """Do the quick start and .ci/run both use `make test` (and the quick start `make grade`)?"""
    readme = (ROOT / "README.md").read_text()
    quick = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    assert re.search(r"^make grade\b", quick, re.M) and re.search(r"^make test\b", quick, re.M)
    assert "make test" in (ROOT / ".ci/run").read_text()


def test_requirements_are_pinned():
    """Is every requirement pinned to an exact version, so every machine grades alike?"""
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            assert "==" in line, f"requirements.txt: {line!r} is not pinned with =="


def test_no_dataset_files_are_tracked():
    """Is no dataset file (or array derived from one) committed?"""
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True)
    if tracked.returncode != 0:
        pytest.skip("not a git checkout")
    bad = [f for f in tracked.stdout.splitlines() if f.endswith(DATA_SUFFIXES)]
    assert not bad, f"data files must not be committed: {bad}"


def test_readme_names_every_registered_assignment():
    """Does the README name every assignment of course.toml by its title?"""
    from autograder import registry

    readme = (ROOT / "README.md").read_text()
    missing = [a.title for a in registry.load().assignments.values() if a.title not in readme]
    assert not missing, f"README.md does not name {missing}"
