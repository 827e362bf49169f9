"""Helpers of the grader's self-tests: run the CLI on a fake submission, load and validate what
it wrote (results.json against Gradescope's schema, report.md, junit.xml, gradebook.csv).

The fake assignment lives in tests/fixtures/grader/: its registry `course.toml`, its checks in
`course/99_fake/` (test_public.py: add 2 points, scale 3 points with partial credit;
test_hidden.py: norm 5 points) and one folder per fake submission in
`submissions/<case>/99_fake/fake.py`.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import platform
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "grader"
FAKE_COURSE = FIXTURES / "course.toml"
FAKE_CHECKS = FIXTURES / "course" / "99_fake"
SUBMISSIONS = FIXTURES / "submissions"
ASSIGNMENT = "99_fake"
POINTS = (2.0, 3.0, 5.0)  # add, scale, norm (hidden)
HIDDEN_INDEX = 2
NOT_RUN_PREFIX = "did not run"
STUDENT = "fake-student"

# What Gradescope reads (https://gradescope-autograders.readthedocs.io/en/latest/specs/).
TOP_KEYS = {"score", "execution_time", "output", "output_format", "test_output_format",
            "test_name_format", "visibility", "stdout_visibility", "extra_data", "tests",
            "leaderboard"}
TEST_KEYS = {"score", "max_score", "status", "name", "name_format", "number", "output",
             "output_format", "tags", "visibility", "extra_data"}
VISIBILITIES = {"visible", "hidden", "after_due_date", "after_published"}
REQUIRED_TOP = {"score", "execution_time", "output", "visibility", "stdout_visibility", "tests",
                "leaderboard", "extra_data"}
REQUIRED_TEST = {"name", "number", "score", "max_score", "status", "output", "visibility", "tags"}
EXTRA_KEYS = {"seed", "python", "tensorflow", "keras", "numpy", "checks_sha256",
              "submission_commit"}


@dataclass
class Grading:
    """One run of `python -m autograder grade`: its exit code, stdout and validated results."""

    returncode: int
    stdout: str
    out: Path
    results: dict[str, Any]
    seconds: float

    @property
    def tests(self) -> list[dict[str, Any]]:
        return self.results["tests"]

    @property
    def scores(self) -> tuple[float, ...]:
        return tuple(t["score"] for t in self.tests)

    def file(self, name: str) -> str:
        return (self.out / name).read_text(encoding="utf-8")


def grader_env(out: Path, **extra: str) -> dict[str, str]:
    """The environment of a grader run: `autograder` importable from anywhere, no CI summary."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PYTHON") and k != "GITHUB_STEP_SUMMARY"}
    env.update(PYTHONPATH=str(ROOT), PYTHONDONTWRITEBYTECODE="1",
               FAKE_OUT_DIR=str(out))  # read by the results_writer submission
    env.update(extra)
    return env


def grader_command(submission: Path, out: Path, *args: str,
                   course: Path = FAKE_COURSE) -> list[str]:
    return [sys.executable, "-m", "autograder", "grade", *args, "--submission", str(submission),
            "--out", str(out), "--course", str(course), "--student", STUDENT]


def run_grader(submission: Path, out: Path, *args: str, course: Path = FAKE_COURSE,
               cwd: Path = ROOT, env: dict[str, str] | None = None,
               timeout: float = 120) -> Grading:
    """Run the CLI to the end; results.json must exist and be valid whatever the exit code."""
    start = time.perf_counter()
    proc = subprocess.run(grader_command(submission, out, *args, course=course),
                          cwd=cwd, env=env or grader_env(out), capture_output=True, text=True,
                          timeout=timeout)
    seconds = time.perf_counter() - start
    stdout = proc.stdout + proc.stderr
    path = out / "results.json"
    assert path.is_file(), f"no results.json (exit {proc.returncode}):\n{stdout}"
    results = json.loads(path.read_text(encoding="utf-8"))
    validate_results(results)
    return Grading(proc.returncode, stdout, out, results, seconds)


def grade_case(case: str, out: Path, *args: str, **kwargs: Any) -> Grading:
    """Grade the fake assignment 99_fake in submissions/<case>/."""
    return run_grader(SUBMISSIONS / case, out, ASSIGNMENT, *args, **kwargs)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def validate_results(data: dict[str, Any], *, expect_extra: bool | None = None) -> None:
    """Assert that `data` is a results.json Gradescope accepts, with our extra_data.

    extra_data's provenance fields are required unless the run failed before it knew its check
    files (a grader error with no checks); pass `expect_extra` to require them or not.
    """
    assert isinstance(data, dict)
    keys = set(data)
    assert REQUIRED_TOP <= keys <= TOP_KEYS, f"top-level keys {sorted(keys)}"
    assert _is_number(data["score"]) and _is_number(data["execution_time"])
    assert data["execution_time"] >= 0
    assert isinstance(data["output"], str)
    assert data["visibility"] in VISIBILITIES and data["stdout_visibility"] in VISIBILITIES
    assert isinstance(data["leaderboard"], list)
    tests = data["tests"]
    assert isinstance(tests, list)
    numbers = [t.get("number") for t in tests]
    assert len(set(numbers)) == len(numbers), f"duplicate test numbers {numbers}"
    for test in tests:
        keys = set(test)
        assert REQUIRED_TEST <= keys <= TEST_KEYS, f"test keys {sorted(keys)}"
        assert isinstance(test["name"], str) and test["name"]
        assert isinstance(test["number"], str) and re.fullmatch(r"\d+\.\d+", test["number"])
        assert _is_number(test["score"]) and _is_number(test["max_score"])
        assert test["max_score"] > 0 and 0 <= test["score"] <= test["max_score"], test
        assert test["status"] in ("passed", "failed"), test
        assert (test["status"] == "passed") == (test["score"] == test["max_score"]), test
        assert isinstance(test["output"], str)
        assert test["visibility"] in VISIBILITIES
        tags = test["tags"]
        assert isinstance(tags, list) and tags and all(isinstance(t, str) for t in tags), tags
        assert set(tags) - {"hidden"}, f"no assignment tag in {tags}"
    assert data["score"] == round(sum(t["score"] for t in tests), 4)
    extra = data["extra_data"]
    assert isinstance(extra, dict)
    assert extra["max_score"] == round(sum(t["max_score"] for t in tests), 4)
    grader_error = "GRADER ERROR" in data["output"]
    if expect_extra is None:
        expect_extra = bool(tests) or not grader_error
    if expect_extra:
        assert EXTRA_KEYS <= set(extra), f"extra_data keys {sorted(extra)}"
        assert isinstance(extra["seed"], int) and not isinstance(extra["seed"], bool)
        assert extra["python"] == platform.python_version()
        for name in ("tensorflow", "keras"):
            assert extra[name] is None or isinstance(extra[name], str)
        assert isinstance(extra["numpy"], str) and extra["numpy"]
        assert re.fullmatch(r"[0-9a-f]{64}", extra["checks_sha256"])
        commit = extra["submission_commit"]
        assert commit is None or re.fullmatch(r"[0-9a-f]{40}", commit), commit


def validate_reports(grading: Grading) -> None:
    """Assert that report.md, junit.xml and gradebook.csv agree with results.json."""
    results = grading.results
    tests = results["tests"]
    score, max_score = results["score"], results["extra_data"]["max_score"]

    report = grading.file("report.md")
    assert len(report) < 60_000
    assert report.startswith(f"## Grade: {score:g} / {max_score:g}"), report[:200]
    for test in tests:
        assert f"| {test['number']} |" in report

    root = ET.fromstring(grading.file("junit.xml"))
    assert root.tag == "testsuites" and root.get("tests") == str(len(tests))
    cases = root.findall("./testsuite/testcase")
    assert len(cases) == len(tests)
    for case, test in zip(cases, tests, strict=True):
        assert case.get("name") == test["name"]
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        assert props == {"score": f"{test['score']:g}", "max_score": f"{test['max_score']:g}"}
        assert (case.find("failure") is None) == (test["score"] == test["max_score"])
    failures = sum(int(s.get("failures")) for s in root.findall("testsuite"))
    assert failures == sum(t["score"] < t["max_score"] for t in tests)

    rows = list(csv.reader(io.StringIO(grading.file("gradebook.csv"))))
    assert len(rows) == 2, rows
    header, row = rows
    assert header[:5] == ["student", "commit", "score", "max_score", "percent"]
    assert len(row) == len(header)
    assert row[0] == STUDENT and row[2] == f"{score:g}" and row[3] == f"{max_score:g}"


def worker_processes_since(start: float) -> list[int]:
    """Pids of live bwrap or worker processes started after `start` (a time.time()): what a
    grading left behind, when no other grading runs at the same time."""
    boot = time.time() - float(Path("/proc/uptime").read_text().split()[0])
    ticks = os.sysconf("SC_CLK_TCK")
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] == "Z":  # a zombie has ended
            continue
        started = boot + int(fields[19]) / ticks
        if started >= start - 1 and ("autograder.worker" in cmdline or "bwrap" in cmdline
                                     or "fake.py" in cmdline):
            found.append(int(entry.name))
    return found
