"""The result model, in Gradescope's results.json schema, written atomically after every check."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

NOT_RUN = "did not run: grading stopped before this check"
INSTRUCTOR_ONLY = ("graded by your instructor: a hidden check, run only in the official grading "
                   "(it tests the same functions on other inputs)")


@dataclass
class CheckResult:
    """One check's outcome. `output` is what the student sees."""

    assignment: str
    name: str
    number: str
    max_score: float
    hidden: bool = False
    score: float = 0.0
    status: str = "failed"
    output: str = NOT_RUN
    reported: bool = False
    instructor_only: bool = False

    @property
    def state(self) -> str:
        """What the reports show: passed, partial, failed, not run or instructor (graded later)."""
        if self.instructor_only:
            return "instructor"
        if self.output.startswith("did not run"):
            return "not run"
        if self.score == self.max_score:
            return "passed"
        return "partial" if self.score > 0 else "failed"

    @classmethod
    def instructor_only_check(cls, assignment: str, name: str, number: str,
                              max_score: float) -> CheckResult:
        """A hidden check whose file this repository does not hold (a student's export)."""
        return cls(assignment=assignment, name=name, number=number, max_score=max_score,
                   hidden=True, output=INSTRUCTOR_ONLY, reported=True, instructor_only=True)

    def to_dict(self) -> dict[str, Any]:
        tags = [self.assignment] + (["hidden"] if self.hidden else [])
        return {
            "name": self.name,
            "number": self.number,
            "score": round(self.score, 4),
            "max_score": self.max_score,
            "status": self.status,
            "output": self.output,
            # Gradescope shows hidden checks after the due date: before it, repeated
            # submissions could probe them
            "visibility": "after_due_date" if self.hidden else "visible",
            "tags": tags,
        }


@dataclass
class Results:
    """All checks of one grading run, in the order they were collected."""

    tests: list[CheckResult] = field(default_factory=list)
    extra_data: dict[str, Any] = field(default_factory=dict)
    leaderboard: list[dict[str, Any]] = field(default_factory=list)
    execution_time: float = 0.0
    grader_error: str | None = None

    @property
    def score(self) -> float:
        return round(sum(t.score for t in self.tests), 4)

    @property
    def max_score(self) -> float:
        return round(sum(t.max_score for t in self.tests), 4)

    @property
    def instructor_only_points(self) -> float:
        """Points of hidden checks this repository cannot run (graded by the instructor)."""
        return round(sum(t.max_score for t in self.tests if t.instructor_only), 4)

    def assignments(self) -> list[str]:
        return list(dict.fromkeys(t.assignment for t in self.tests))

    def by_assignment(self, assignment: str) -> list[CheckResult]:
        return [t for t in self.tests if t.assignment == assignment]

    def summary(self) -> str:
        lines = []
        for assignment in self.assignments():
            checks = self.by_assignment(assignment)
            got = sum(t.score for t in checks)
            out_of = sum(t.max_score for t in checks)
            lines.append(f"{assignment}: {got:g}/{out_of:g}")
        lines.append(f"Total: {self.score:g}/{self.max_score:g}")
        if self.instructor_only_points:
            lines.append(f"{self.instructor_only_points:g} of those points come from hidden "
                         "checks graded by your instructor")
        if self.grader_error:
            lines.append(f"GRADER ERROR (not the student's fault): {self.grader_error}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "score": self.score,
            "execution_time": round(self.execution_time, 2),
            "output": self.summary(),
            "visibility": "visible",
            "stdout_visibility": "hidden",
            "tests": [t.to_dict() for t in self.tests],
            "leaderboard": self.leaderboard,
            "extra_data": {**self.extra_data, "max_score": self.max_score},
        }

    def write(self, path: Path) -> None:
        """Write results.json atomically: a reader never sees a half-written file."""
        write_report(path, json.dumps(self.to_dict(), indent=2) + "\n")


def write_report(path: Path, text: str) -> None:
    """Write `text` to `path` as a regular file the grader created, atomically.

    Whatever else is at `path` (a folder, a link, a file someone else made) is replaced, so no
    planted entry in the output folder can make the grader fail or write elsewhere.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        os.replace(tmp, path)  # replaces a file or a symbolic link itself, never its target
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
