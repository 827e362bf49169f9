"""Is the student release generated, complete and free of solutions and hidden checks?

The release (`python -m autograder release`) writes assignments/ from solutions/ with nbgrader;
the export (`python -m autograder student-repo DEST`) writes the repository students receive.
The marker strings are built by concatenation: nbgrader treats any line that contains one as a
marker, and this file must stay readable by it.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder import registry, release
from autograder.hidden import describe
from autograder.registry import HIDDEN_CHECKS, HIDDEN_MANIFEST, PUBLIC_CHECKS

ROOT = Path(__file__).resolve().parent.parent
COURSE = registry.load()
BEGIN, END = "BEGIN " + "SOLUTION", "END " + "SOLUTION"
HIDDEN_BEGIN = "BEGIN " + "HIDDEN TESTS"
NOT_ASSIGNMENT_FOLDERS = {"helpers", "student_repo", "__pycache__"}


def _folders(parent: Path) -> set[str]:
    return {p.name for p in parent.iterdir() if p.is_dir() and p.name not in NOT_ASSIGNMENT_FOLDERS}


def solution_lines(source: str) -> list[str]:
    """The stripped, non-blank lines inside the marked regions of a module."""
    found, inside = [], False
    for line in source.split("\n"):
        if BEGIN in line:
            inside = True
        elif END in line:
            inside = False
        elif inside and line.strip():
            found.append(line.strip())
    return found


def copy_course(dest: Path) -> registry.Course:
    """A copy of the registry, solutions/ and assignments/ under dest; its Course."""
    shutil.copyfile(ROOT / "course.toml", dest / "course.toml")
    for folder in ("solutions", "assignments"):
        shutil.copytree(ROOT / folder, dest / folder,
                        ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
    return registry.load(dest / "course.toml")


@pytest.mark.parametrize("parent", ["solutions", "assignments", "course"])
def test_every_assignment_folder_has_a_registry_entry_and_back(parent):
    """Does each of solutions/, assignments/ and course/ hold exactly the registry's folders?"""
    assert _folders(ROOT / parent) == set(COURSE.assignments), (
        f"{parent}/ and course.toml disagree: add a registry entry for each folder, "
        "and a folder for each entry")


@pytest.mark.parametrize("assignment", list(COURSE.assignments))
def test_each_assignment_has_its_public_checks(assignment):
    """Does every registered assignment have a course/<id>/test_public.py?"""
    assert (COURSE.check_folder(assignment) / PUBLIC_CHECKS).is_file()


@pytest.fixture(scope="module")
def fresh_release(tmp_path_factory) -> tuple[registry.Course, list[Path], list[Path]]:
    """The release generated twice in a copy: (course, files changed by 1st, by 2nd run)."""
    course = copy_course(tmp_path_factory.mktemp("release"))
    first = release.release(course, [])
    second = release.release(course, [])
    return course, first, second


def test_committed_release_equals_a_fresh_release(fresh_release):
    """Does generating the release change no byte of the committed assignments/?"""
    _, first, _ = fresh_release
    assert first == [], (f"assignments/ is out of date in {[str(p) for p in first]}: "
                         "run `make release` and commit the result")


def test_a_second_release_changes_nothing(fresh_release):
    """Is the release idempotent (a second run writes no file)?"""
    _, _, second = fresh_release
    assert second == []


@pytest.mark.parametrize("assignment", list(COURSE.assignments))
def test_no_solution_line_or_marker_reaches_the_release(assignment):
    """Is every solution line and marker absent from the released module and notebook?"""
    entry = COURSE.get(assignment)
    solution = (ROOT / "solutions" / assignment / entry.module_file).read_text(encoding="utf-8")
    released = ROOT / "assignments" / assignment
    skeleton = (released / entry.module_file).read_text(encoding="utf-8")
    # scaffold lines (outside the regions) may repeat inside one, e.g. `if bias is not None:`
    scaffold = {line.strip() for line in release.clear_module(solution, Path()).split("\n")}
    skeleton_lines = {line.strip() for line in skeleton.split("\n")}
    leaked = [line for line in solution_lines(solution)
              if line in skeleton_lines and line not in scaffold]
    assert not leaked, f"solution lines found in the skeleton: {leaked}"
    for path in released.rglob("*"):
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            assert BEGIN not in text and END not in text and HIDDEN_BEGIN not in text, path


@pytest.mark.parametrize("assignment", list(COURSE.assignments))
def test_written_answers_are_cleared_and_the_notebook_is_nbgrader_valid(assignment):
    """Does the solution notebook carry a manually graded answer, read-only cells and valid
    nbgrader metadata, and does the release replace the answer by a stub?"""
    name = f"{assignment}.ipynb"
    source = nbformat.read(ROOT / "solutions" / assignment / name, as_version=4)
    released = nbformat.read(ROOT / "assignments" / assignment / name, as_version=4)
    marks = [cell.metadata.get("nbgrader", {}) for cell in source.cells]
    answers = [i for i, m in enumerate(marks) if m.get("solution") and m.get("grade")]
    assert answers, f"{name} needs a manually graded written-answer cell"
    assert any(m.get("locked") for m in marks), f"{name} needs read-only (locked) cells"
    for index in answers:
        assert source.cells[index].source.strip()
        assert released.cells[index].source == "YOUR ANSWER HERE"
        assert source.cells[index].source not in json.dumps(released)


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("assignment", list(COURSE.assignments))
def test_nbgrader_validate_passes_on_the_solution_notebook(assignment, real_data_dir):
    """Does `nbgrader validate` run the solution notebook (FAST mode) and report success?"""
    notebook = ROOT / "solutions" / assignment / f"{assignment}.ipynb"
    env = {**os.environ, "DLCOURSE_FAST": "1", "DLCOURSE_DATA_DIR": str(real_data_dir),
           "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-m", "nbgrader", "validate", str(notebook)],
                          cwd=notebook.parent, capture_output=True, text=True, env=env,
                          timeout=540)
    assert "Success! Your notebook passes all the tests." in done.stdout, (
        done.stdout[-2000:] + done.stderr[-2000:])


def test_solution_only_files_are_never_released(tmp_path):
    """Are files the registry marks solution-only (a trained model, TRAINING.md) left out?"""
    course_toml = (ROOT / "course.toml").read_text(encoding="utf-8")
    first = next(iter(COURSE.assignments))
    course = copy_course(tmp_path)
    (tmp_path / "course.toml").write_text(course_toml.replace(
        f'id = "{first}"', f'id = "{first}"\nsolution_only = ["TRAINING.md", "submission"]', 1)
        .replace("solution_only = []", "", 1), encoding="utf-8")
    course = registry.load(tmp_path / "course.toml")
    source = tmp_path / "solutions" / first
    (source / "TRAINING.md").write_text("how the reference was trained\n")
    (source / "submission").mkdir()
    (source / "submission" / "model.keras").write_bytes(b"weights")
    release.release(course, [first])
    assert sorted(p.name for p in (tmp_path / "assignments" / first).iterdir()) == sorted(
        p.name for p in (ROOT / "assignments" / first).iterdir())


def test_a_module_without_a_solution_region_is_refused():
    """Does releasing a module with no marked region fail with a message naming the fix?"""
    with pytest.raises(release.ReleaseError, match="no solution region"):
        release.clear_module("def f():\n    return 1\n", Path("m.py"))


@pytest.mark.parametrize("assignment", list(COURSE.assignments))
def test_each_graded_function_has_one_region_and_raises_in_the_skeleton(assignment):
    """Does each registered graded function hold one region, cleared to NotImplementedError?"""
    entry = COURSE.get(assignment)
    solution = (ROOT / "solutions" / assignment / entry.module_file).read_text(encoding="utf-8")
    skeleton = (ROOT / "assignments" / assignment / entry.module_file).read_text(encoding="utf-8")
    lines = solution.split("\n")
    graded = [node for node in ast.parse(solution).body
              if isinstance(node, ast.FunctionDef) and node.name in entry.functions]
    assert {node.name for node in graded} == set(entry.functions)
    for node in graded:
        body = lines[node.lineno - 1:node.end_lineno]
        assert sum(BEGIN in line for line in body) == 1, f"{node.name}: expected one region"
        assert sum(END in line for line in body) == 1, f"{node.name}: expected one region"
    for node in ast.parse(skeleton).body:
        if isinstance(node, ast.FunctionDef) and node.name in entry.functions:
            raises = [n for n in ast.walk(node) if isinstance(n, ast.Raise)
                      and isinstance(n.exc, ast.Call)
                      and getattr(n.exc.func, "id", None) == "NotImplementedError"]
            assert len(raises) == 1, f"{node.name}: the skeleton should raise once"


# ------------------------------------------------------------------------- the student export

@pytest.fixture(scope="module")
def student_repo(tmp_path_factory) -> Path:
    """The exported student repository, written by the CLI."""
    dest = tmp_path_factory.mktemp("export") / "student"
    done = subprocess.run([sys.executable, "-m", "autograder", "student-repo", str(dest)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return dest


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and ".git" not in p.relative_to(root).parts]


def test_export_holds_no_solutions_hidden_checks_or_instructor_files(student_repo):
    """Does the export leave out solutions/, every hidden check file, the instructor's tests,
    benchmarks, CI and nbgrader files, and hold the student README and self-check instead?"""
    names = {str(p.relative_to(student_repo)) for p in _files(student_repo)}
    for banned in ("solutions/", "benchmarks/", ".ci/", "tests/test_", "tests/fixtures/",
                   "nbgrader_config.py", "gradebook.db", ".github/workflows/README"):
        assert not [n for n in names if n.startswith(banned)], banned
    assert not [n for n in names if n.endswith(HIDDEN_CHECKS)]
    assert {"README.md", "Makefile", "course.toml", "requirements.txt", "datasets/README.md",
            "tests/student/test_setup.py"} <= names
    readme = (student_repo / "README.md").read_text(encoding="utf-8")
    assert readme == (ROOT / "course" / "student_repo" / "README.md").read_text(encoding="utf-8")


def test_no_solution_line_or_hidden_check_leaks_into_the_export(student_repo):
    """Is no marker, no solution line and no line of a hidden check file in the export?"""
    solution, hidden, scaffold = set(), set(), set()
    for assignment in COURSE.assignments.values():
        module = ROOT / "solutions" / assignment.id / assignment.module_file
        source = module.read_text(encoding="utf-8")
        # what any released module shows outside its regions is public by design (e.g. the
        # challenge's baseline network is written with the same lines as other solutions)
        scaffold |= {line.strip() for line in release.clear_module(source, module).split("\n")}
        solution |= {line for line in solution_lines(source) if len(line) > 25}
    solution -= scaffold  # distinctive solution lines only
    for assignment in COURSE.assignments.values():
        hidden_file = COURSE.check_folder(assignment.id) / HIDDEN_CHECKS
        if hidden_file.is_file():
            public = (COURSE.check_folder(assignment.id) / PUBLIC_CHECKS).read_text()
            shared = {line.strip() for line in public.split("\n")}
            hidden |= {line.strip() for line in hidden_file.read_text().split("\n")
                       if len(line.strip()) > 25 and line.strip() not in shared}
    for path in _files(student_repo):
        text = path.read_text(encoding="utf-8", errors="replace")
        assert BEGIN not in text and END not in text, path
        lines = {line.strip() for line in text.split("\n")}
        assert not lines & solution, f"solution lines in {path}: {lines & solution}"
        if path.name != HIDDEN_MANIFEST:  # which holds the titles, as students see them
            assert not lines & hidden, f"hidden check lines in {path}: {lines & hidden}"


def test_export_lists_hidden_checks_by_title_and_points(student_repo):
    """Does each assignment with hidden checks get a manifest of their titles and points?"""
    for assignment in COURSE.assignments:
        hidden_file = COURSE.check_folder(assignment) / HIDDEN_CHECKS
        manifest = student_repo / "course" / assignment / HIDDEN_MANIFEST
        if hidden_file.is_file():
            entries = json.loads(manifest.read_text(encoding="utf-8"))
            assert [(e["title"], e["points"]) for e in entries] == describe(hidden_file)
        else:
            assert not manifest.exists()


def test_export_is_a_git_repository_with_one_commit(student_repo):
    """Is the export a git repository with one commit and a clean work tree?"""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(student_repo), *args], capture_output=True,
                              text=True, check=True).stdout
    assert git("rev-list", "--count", "HEAD").strip() == "1"
    assert git("status", "--porcelain") == ""


def test_export_refuses_a_folder_that_is_not_empty(tmp_path):
    """Does exporting into a non-empty folder fail with exit 2 and say why?"""
    (tmp_path / "keep.txt").write_text("mine")
    done = subprocess.run([sys.executable, "-m", "autograder", "student-repo", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "not an empty folder" in done.stdout
    assert (tmp_path / "keep.txt").read_text() == "mine"


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_fresh_clone_of_the_export_passes_its_readme_commands(student_repo, tmp_path):
    """In a fresh clone of the export, does `make grade` score 0 with the hidden checks listed
    as graded by the instructor, and `make test` pass (the student self-check only)?"""
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(student_repo), str(clone)], check=True)
    # the course's .venv, whose stamp matches the same requirements.txt: no new install
    (clone / ".venv").symlink_to(ROOT / ".venv")
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_STEP_SUMMARY"}
    grade = subprocess.run(["make", "grade"], cwd=clone, capture_output=True, text=True,
                           timeout=600, env=env)
    assert grade.returncode == 0, grade.stdout[-3000:] + grade.stderr[-3000:]
    results = json.loads((clone / "grading" / "results.json").read_text(encoding="utf-8"))
    total = sum(a.points for a in COURSE.assignments.values())
    assert results["score"] == 0 and results["extra_data"]["max_score"] == total
    hidden = [t for t in results["tests"] if "hidden" in t["tags"]]
    assert hidden and all(t["output"].startswith("graded by your instructor") for t in hidden)
    assert "graded by your instructor" in grade.stdout
    test = subprocess.run(["make", "test"], cwd=clone, capture_output=True, text=True,
                          timeout=600, env=env)
    assert test.returncode == 0, test.stdout[-3000:] + test.stderr[-3000:]
    assert " passed" in test.stdout
