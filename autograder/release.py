"""`make release`: write the student release `assignments/` from the instructors' `solutions/`.

Per assignment, in a temporary folder:
1. nbgrader's own `generate_assignment` converts the notebook (solution cells cleared, outputs
   removed, read-only cells locked) and copies the other files, minus the registry's
   solution-only files;
2. the graded module goes through nbgrader's `ClearSolutions` preprocessor: nbgrader copies
   `.py` files verbatim (jupyter/nbgrader#1237), so the module is wrapped in a one-cell
   notebook and each solution region (between nbgrader's begin and end markers) becomes
   `raise NotImplementedError()`.
Then `assignments/<id>/` is made equal to that folder, touching only files whose bytes change,
so a second release changes nothing. `assignments/README.md` is written from the registry.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from pathlib import Path

from autograder.registry import Assignment, Course

SOURCE, RELEASE = "solutions", "assignments"
# nbgrader's default ignore list, and what must never reach students whatever the assignment.
ALWAYS_IGNORED = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", ".nbgrader"]


class ReleaseError(Exception):
    """The release cannot be generated; the message names the file and the fix."""


def release(course: Course, ids: list[str],
            log: Callable[[str], None] = lambda text: None) -> list[Path]:
    """Release the assignments named in `ids` (all when empty); the files that changed."""
    changed: list[Path] = []
    for assignment in course.select(ids):
        source = course.root / SOURCE / assignment.id
        if not source.is_dir():
            raise ReleaseError(f"{source} does not exist: write the assignment there first")
        with tempfile.TemporaryDirectory(prefix="release-") as tmp:
            built = _generate(course, assignment, Path(tmp))
            module = source / assignment.module_file
            (built / assignment.module_file).write_text(
                clear_module(module.read_text(encoding="utf-8"), module), encoding="utf-8")
            changed += sync(built, course.root / RELEASE / assignment.id)
        log(f"released {assignment.id}")
    readme = course.root / RELEASE / "README.md"
    changed += _write_if_changed(readme, assignments_readme(course).encode())
    return changed


def ignore_patterns(course: Course) -> list[str]:
    """What nbgrader must not copy: solution-only files and every graded module (cleared here).

    nbgrader_config.py uses the same list, so a plain `nbgrader generate_assignment` never
    copies a module with its solutions either.
    """
    patterns = list(ALWAYS_IGNORED)
    for assignment in course.assignments.values():
        patterns += [*assignment.solution_only, assignment.module_file]
    return list(dict.fromkeys(patterns))


def _generate(course: Course, assignment: Assignment, tmp: Path) -> Path:
    """nbgrader generate_assignment for one assignment into tmp/release/<id>/; that folder."""
    from nbgrader.converters import GenerateAssignment
    from nbgrader.converters.base import NbGraderException
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import Config

    config = Config()
    config.CourseDirectory.root = str(tmp)
    config.CourseDirectory.source_directory = str(course.root / SOURCE)
    config.CourseDirectory.release_directory = "release"
    config.CourseDirectory.assignment_id = assignment.id
    config.CourseDirectory.ignore = ignore_patterns(course)
    config.GenerateAssignment.no_database = True  # what --no-db sets
    config.SaveCells.enabled = False
    converter = GenerateAssignment(coursedir=CourseDirectory(config=config), config=config)
    converter.log.setLevel(logging.WARNING)
    try:
        converter.start()
    except NbGraderException as exc:
        raise ReleaseError(f"nbgrader could not release {assignment.id}: {exc} (run `nbgrader "
                           "generate_assignment` on it to see the details)") from None
    return tmp / "release" / assignment.id


def clear_module(source: str, path: Path) -> str:
    """The module with every solution region replaced by nbgrader's Python stub."""
    from nbformat.v4 import new_code_cell, new_notebook
    from nbgrader.preprocessors import ClearSolutions

    notebook = new_notebook(cells=[new_code_cell(source)],
                            metadata={"kernelspec": {"language": "python", "name": "python3",
                                                     "display_name": "Python 3"}})
    try:
        cleared, _ = ClearSolutions(enforce_metadata=False).preprocess(notebook, {})
    except RuntimeError as exc:  # nbgrader's message for unbalanced or nested markers
        raise ReleaseError(f"{path}: {exc}") from None
    text = cleared.cells[0].source
    if text == source:
        raise ReleaseError(f"{path} has no solution region: put each solution between "
                           "nbgrader's markers (see solutions/README.md)")
    return text


def sync(built: Path, dest: Path) -> list[Path]:
    """Make `dest` hold exactly the files of `built`; the paths written or removed."""
    changed: list[Path] = []
    wanted = {p.relative_to(built) for p in built.rglob("*") if p.is_file()}
    if dest.is_dir():
        for path in sorted(dest.rglob("*"), reverse=True):
            if path.is_file() and path.relative_to(dest) not in wanted:
                path.unlink()
                changed.append(path)
            elif path.is_dir() and not any(path.iterdir()):
                path.rmdir()
    for relative in sorted(wanted):
        changed += _write_if_changed(dest / relative, (built / relative).read_bytes())
    return changed


def _write_if_changed(path: Path, data: bytes) -> list[Path]:
    if path.is_file() and path.read_bytes() == data:
        return []
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return [path]


def assignments_readme(course: Course) -> str:
    """assignments/README.md: how students work, and the registry's table of assignments."""
    rows = "\n".join(f"| `{a.id}` | `{a.module_file}` | {a.topic} |"
                     for a in course.assignments.values())
    return f"""# assignments (students work here)

One folder per assignment. Open its README for the task and the grading table, fill in the
functions marked `# YOUR CODE HERE` in the `.py` module (the notebook imports it and tells
the story with plots), then grade yourself from the repository root:

```bash
make grade                                  # all assignments
make grade ASSIGNMENTS=01_kernel_convolution  # one assignment
```

The grader runs your code in a separate process with time and memory limits, so an infinite
loop or a crash costs only the check it happens in. Results are written to `grading/`.

| folder | module | topic |
|---|---|---|
{rows}

This folder is generated by `make release` from the instructors' sources; in the course
repository it is never edited by hand.
"""
