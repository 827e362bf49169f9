"""`make student-repo DEST=...`: write the repository students receive, as a one-commit git repo.

It holds the release (`assignments/`), the engine, the public checks, `dlcourse/`, the
registry, requirements and Makefile, the student self-check (`tests/student/`) and the files of
`course/student_repo/` at its root (the student README, the student workflows). It never holds
`solutions/`, a hidden check file (each becomes `hidden_checks.json`: titles and points only),
the instructor's tests, benchmarks, CI or workflows, nor nbgrader's configuration and database.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from autograder.hidden import HiddenChecksError, write_manifest
from autograder.registry import HIDDEN_CHECKS, HIDDEN_MANIFEST, Course

# Paths of the course repository a student repository holds (folders end with "/").
EXPORTED = ["assignments/", "autograder/", "course/", "dlcourse/", "tests/student/",
            "datasets/README.md", "requirements.txt", "Makefile", "pyproject.toml",
            "course.toml", ".gitignore"]
OVERLAY = "course/student_repo"  # copied to the student repository's root
AUTHOR = {"GIT_AUTHOR_NAME": "Course staff", "GIT_AUTHOR_EMAIL": "staff@course.invalid",
          "GIT_COMMITTER_NAME": "Course staff", "GIT_COMMITTER_EMAIL": "staff@course.invalid"}


class ExportError(Exception):
    """The student repository cannot be written; the message says why."""


def student_repo(course: Course, dest: Path,
                 log: Callable[[str], None] = lambda text: None) -> None:
    """Write the student repository into `dest` (new or empty) and commit it."""
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise ExportError(f"{dest} exists and is not an empty folder: choose a new path")
    files = [f for f in source_files(course.root) if _exported(f, course)]
    for relative in files:
        target = dest / _target(relative)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(course.root / relative, target)
    for assignment in course.assignments.values():
        hidden = course.check_folder(assignment.id) / HIDDEN_CHECKS
        if hidden.is_file():
            manifest = dest / hidden.parent.relative_to(course.root) / HIDDEN_MANIFEST
            try:
                write_manifest(hidden, manifest)
            except HiddenChecksError as exc:
                raise ExportError(str(exc)) from None
    _commit(dest)
    log(f"Wrote the student repository to {dest} ({len(files)} files, one commit).")


def source_files(root: Path) -> list[PurePosixPath]:
    """The repository's files as git sees them: tracked, or new and not ignored."""
    try:
        listed = subprocess.run(
            ["git", "-C", str(root), "ls-files", "--cached", "--others", "--exclude-standard"],
            capture_output=True, text=True, check=True).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError) as exc:
        raise ExportError(f"{root} must be a git checkout of the course ({exc})") from None
    return [PurePosixPath(name) for name in listed if (root / name).is_file()]


def _exported(relative: PurePosixPath, course: Course) -> bool:
    text = str(relative)
    if relative.name == HIDDEN_CHECKS or "__pycache__" in relative.parts:
        return False
    if text.startswith(OVERLAY + "/"):
        return True
    return any(text == path or (path.endswith("/") and text.startswith(path))
               for path in EXPORTED)


def _target(relative: PurePosixPath) -> PurePosixPath:
    """Where a file goes in the student repository: the overlay lands at its root."""
    if str(relative).startswith(OVERLAY + "/"):
        return relative.relative_to(OVERLAY)
    return relative


def _commit(dest: Path) -> None:
    env = {**os.environ, **AUTHOR}
    for command in (["init", "--quiet", "--initial-branch", "main"], ["add", "--all"],
                    ["commit", "--quiet", "--no-verify", "-m", "Course release"]):
        done = subprocess.run(["git", "-C", str(dest), *command], capture_output=True,
                              text=True, env=env)
        if done.returncode != 0:
            raise ExportError(f"git {command[0]} failed in {dest}: {done.stderr.strip()}")
