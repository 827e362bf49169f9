"""The `autograder` pytest plugin: markers, fixtures and the score, kept on the trusted side.

Registered by the CLI with `pytest.main(..., plugins=[GraderPlugin(...)])`. It validates every
check at collection, lists the expected checks in the results before any runs (so a check
that never reports scores 0 with "did not run"), and records each outcome as it happens.
"""

from __future__ import annotations

import math
import numbers
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from autograder.checks import CheckFailed
from autograder.proxy import (
    StudentCrash,
    StudentError,
    StudentImportError,
    StudentModule,
    Worker,
)
from autograder.registry import HIDDEN_CHECKS, Assignment, Course, RegistryError
from autograder.results import CheckResult, Results
from autograder.sandbox import Sandbox, stage_code

MARKERS = {
    "points(n)": "points a check is worth (required, n > 0)",
    "requires(*names)": "earlier checks of the same assignment this one builds on (by function "
                        "name): when they failed, its failure says to fix them first",
}
_MESSAGE_LIMIT = 2000
_ANSI_CODE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")
_CONTROL_CHAR = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # all but \t and \n


def _printable(text: str) -> str:
    """Student text made safe for every report: no ANSI codes, control characters (invalid in
    XML) or lone surrogates (which cannot be written as UTF-8)."""
    text = text.encode("utf-8", "replace").decode("utf-8")
    return _CONTROL_CHAR.sub("", _ANSI_CODE.sub("", text))


class PartialScore:
    """Partial credit for one check: `score.set(0.6, "accuracy 0.872 ...")`."""

    def __init__(self) -> None:
        self.fraction = 1.0
        self.message = ""

    def set(self, fraction: float, message: str = "") -> None:
        if not 0.0 <= float(fraction) <= 1.0:
            raise ValueError(f"score.set: fraction must be in [0, 1], got {fraction!r}")
        self.fraction = float(fraction)
        self.message = message


class LeaderboardEntries:
    """Columns of Gradescope's leaderboard for this grading: `leaderboard.add(name, value,
    order)`, order "desc" when higher is better, "asc" when lower is."""

    def __init__(self, results: Results) -> None:
        self._results = results

    def add(self, name: str, value: float, order: str = "desc") -> None:
        if order not in ("asc", "desc"):
            raise ValueError(f"leaderboard.add: order must be 'asc' or 'desc', got {order!r}")
        if not (isinstance(value, numbers.Real) and math.isfinite(value)):
            raise ValueError(f"leaderboard.add: value must be a finite number, got {value!r}")
        self._results.leaderboard = [e for e in self._results.leaderboard if e["name"] != name]
        self._results.leaderboard.append({"name": name, "value": float(value), "order": order})


@dataclass
class _Check:
    result: CheckResult
    assignment: Assignment
    timeout: float | None
    requires: tuple[str, ...] = ()  # node ids of the checks it builds on


def _title(item: pytest.Item) -> str:
    doc = getattr(item.function, "__doc__", None) or ""
    first = doc.strip().splitlines()[0].strip() if doc.strip() else ""
    return first or item.name


def _points_of(item: pytest.Item) -> float:
    marker = item.get_closest_marker("points")
    if marker is None:
        raise pytest.UsageError(f"{item.nodeid}: every check needs @pytest.mark.points(n)")
    if len(marker.args) != 1 or marker.kwargs:
        raise pytest.UsageError(f"{item.nodeid}: points takes one number, got {marker}")
    (value,) = marker.args
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or value <= 0:
        raise pytest.UsageError(f"{item.nodeid}: points must be a number > 0, got {value!r}")
    return float(value)


def _function_name(item: pytest.Item) -> str:
    return getattr(item, "originalname", item.name)


def _required_names(item: pytest.Item) -> list[str]:
    names: list[str] = []
    for marker in item.iter_markers("requires"):
        if not marker.args or marker.kwargs or not all(
                isinstance(name, str) and name for name in marker.args):
            raise pytest.UsageError(f"{item.nodeid}: requires takes check function names, "
                                    f"got {marker}")
        names += marker.args
    return names


def _timeout_of(item: pytest.Item) -> float | None:
    marker = item.get_closest_marker("timeout")
    return float(marker.args[0]) if marker and marker.args else None


class GraderPlugin:
    """Holds the results; everything it reads from student code arrives through a Worker."""

    def __init__(self, course: Course, submission: Path, results: Results, sandbox: Sandbox,
                 seed: int = 0, memory_limit_gib: float | None = None,
                 instructor_only: dict[str, list[tuple[str, float]]] | None = None,
                 on_result: Callable[[CheckResult], None] | None = None,
                 on_start: Callable[[CheckResult], None] | None = None,
                 save: Callable[[], None] | None = None) -> None:
        self.course = course
        self.sandbox = sandbox
        self.code: Path | None = None  # the staged code workers import, made on first use
        self.submission = submission
        self.results = results
        self.grading_seed = seed
        self.memory_limit_gib = memory_limit_gib  # None: each assignment's policy decides
        self.instructor_only = instructor_only or {}
        self.on_result = on_result or (lambda result: None)
        self.on_start = on_start or (lambda result: None)
        self.save = save or (lambda: None)
        self.checks: dict[str, _Check] = {}
        self.workers: dict[str, Worker] = {}
        self.error: str | None = None
        # every check collected, before -k deselection: (check folder, function name)
        self.collected: set[tuple[Path, str]] = set()

    # -- collection ------------------------------------------------------------------------
    def pytest_configure(self, config: pytest.Config) -> None:
        for signature, help_text in MARKERS.items():
            config.addinivalue_line("markers", f"{signature}: {help_text}")

    def pytest_itemcollected(self, item: pytest.Item) -> None:
        self.collected.add((item.path.parent, _function_name(item)))

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            last = (report.longreprtext.strip().splitlines() or ["?"])[-1]
            self.error = f"the checks in {report.nodeid} could not be loaded: {last}"

    @pytest.hookimpl(trylast=True)  # after -k deselection
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        if self.error:  # a check file failed to load: no partial list of checks either
            return
        try:
            self._expect(items)
        except pytest.UsageError as exc:
            self.error = str(exc)
            raise
        self.save()

    def _expect(self, items: list[pytest.Item]) -> None:
        checks: dict[str, _Check] = {}
        for item in items:
            try:
                assignment = self.course.get(item.path.parent.name)
            except RegistryError as exc:
                raise pytest.UsageError(f"{item.nodeid}: {exc}") from None
            number = self._next_number(assignment.id, [c.result for c in checks.values()])
            result = CheckResult(assignment=assignment.id, name=_title(item), number=number,
                                 max_score=_points_of(item),
                                 hidden=item.path.name == HIDDEN_CHECKS)
            checks[item.nodeid] = _Check(result, assignment, _timeout_of(item),
                                         self._requires(item, items, checks))
        # All or nothing: a bad marker leaves no partial list of checks (and max score).
        self.checks.update(checks)
        expected = [c.result for c in checks.values()]
        for assignment_id in dict.fromkeys(r.assignment for r in expected):
            for title, points in self.instructor_only.get(assignment_id, []):
                expected.append(CheckResult.instructor_only_check(
                    assignment_id, title, self._next_number(assignment_id, expected), points))
        expected.sort(key=lambda r: tuple(int(part) for part in r.number.split(".")))
        self.results.tests.extend(expected)

    def _requires(self, item: pytest.Item, items: list[pytest.Item],
                  earlier: dict[str, _Check]) -> tuple[str, ...]:
        """Node ids of the checks `item` requires. A name that is no check of its assignment
        (a typo) or not an earlier check is an error; a check deselected by -k is left out."""
        found = []
        for name in _required_names(item):
            if (item.path.parent, name) not in self.collected:
                raise pytest.UsageError(f"{item.nodeid}: requires {name!r}, but no check of "
                                        f"{item.path.parent.name} has that name")
            same = [other.nodeid for other in items if other.path.parent == item.path.parent
                    and _function_name(other) == name]
            if any(nodeid not in earlier for nodeid in same):
                raise pytest.UsageError(f"{item.nodeid}: requires {name!r}, which must be an "
                                        "earlier check")
            found += same
        return tuple(found)

    def _next_number(self, assignment_id: str, so_far: list[CheckResult]) -> str:
        """"<assignment's place in the registry>.<check's place in it>", e.g. "1.7"."""
        index = list(self.course.assignments).index(assignment_id) + 1
        count = sum(1 for r in so_far if r.assignment == assignment_id) + 1
        return f"{index}.{count}"

    # -- fixtures --------------------------------------------------------------------------
    @pytest.fixture
    def student(self, request: pytest.FixtureRequest) -> StudentModule:
        check = self.checks[request.node.nodeid]
        assignment = check.assignment
        worker = self.workers.get(assignment.id)
        if worker is None:
            if self.code is None:
                self.code = stage_code(self.course.root / self.course.tasks_package)
            path = self.submission / assignment.id / assignment.module_file
            worker = Worker(path, assignment.module, assignment.policy,
                            tasks_package=self.course.tasks_package, sandbox=self.sandbox,
                            code=self.code, memory_limit_gib=self.memory_limit_gib)
            self.workers[assignment.id] = worker
        return StudentModule(worker, self.grading_seed, check=check.result.number)

    @pytest.fixture
    def score(self, request: pytest.FixtureRequest) -> PartialScore:
        partial = PartialScore()
        request.node.stash[_SCORE] = partial
        return partial

    @pytest.fixture
    def leaderboard(self) -> LeaderboardEntries:
        """Columns of Gradescope's leaderboard (results.json): `leaderboard.add(name, value,
        order)`."""
        return LeaderboardEntries(self.results)

    @pytest.fixture
    def seed(self) -> int:
        return self.grading_seed

    # -- running ---------------------------------------------------------------------------
    def pytest_runtest_logstart(self, nodeid: str) -> None:
        if nodeid in self.checks:
            self.on_start(self.checks[nodeid].result)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item,
                                  call: pytest.CallInfo) -> Iterator[None]:
        outcome = yield
        report = outcome.get_result()
        check = self.checks.get(item.nodeid)
        if check is None or check.result.reported:
            return
        if report.when == "call" or (report.when == "setup" and not report.passed):
            self._record(check, report, call, item.stash.get(_SCORE, None))

    def _record(self, check: _Check, report: pytest.TestReport, call: pytest.CallInfo,
                partial: PartialScore | None) -> None:
        result = check.result
        result.reported = True
        if report.passed:
            fraction = partial.fraction if partial else 1.0
            result.score = round(result.max_score * fraction, 4)
            result.status = "passed" if fraction == 1.0 else "failed"
            message = partial.message if partial else ""
            if fraction < 1.0:
                message = (f"partial credit: {fraction:.0%} of {result.max_score:g} points. "
                           f"{message}").strip()
            result.output = message
        elif report.skipped:
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else "skipped"
            result.output = f"did not run: {reason}"
        else:
            exc = call.excinfo.value if call.excinfo else None
            result.output = self._fix_first(check) + _failure_message(exc, result.hidden,
                                                                      check.timeout)
        result.output = _printable(result.output)[:_MESSAGE_LIMIT]
        self.save()
        self.on_result(result)

    def _fix_first(self, check: _Check) -> str:
        """"Fix 1.5 <title> first ..." naming the failed checks this one builds on, or ""."""
        failed = [self.checks[nodeid].result for nodeid in check.requires
                  if self.checks[nodeid].result.status != "passed"]
        if not failed:
            return ""
        named = " and ".join(f"{r.number} \"{r.name}\"" for r in failed)
        them = "them" if len(failed) > 1 else "it"
        return f"Fix {named} first: this check builds on {them}.\n"

    def pytest_sessionfinish(self) -> None:
        for worker in self.workers.values():
            worker.stop()
        if self.code is not None:
            shutil.rmtree(self.code, ignore_errors=True)


_SCORE = pytest.StashKey[PartialScore]()


def _failure_message(exc: BaseException | None, hidden: bool, timeout: float | None) -> str:
    """What the student reads when a check fails. Hidden checks never show inputs or values."""
    if hidden:
        return _hidden_failure(exc)
    if exc is None:
        return "failed"
    if isinstance(exc, pytest.fail.Exception) and str(exc).startswith("Timeout"):
        limit = f"{timeout:g} s" if timeout else "its time limit"
        return (f"timed out: your code did not finish within {limit} "
                "(an infinite loop, or much slower than needed?)")
    if isinstance(exc, TimeoutError):
        return f"timed out: {exc}"
    if isinstance(exc, StudentError) and exc.isinstance_of("NotImplementedError"):
        return f"not implemented yet: {exc}"
    if isinstance(exc, CheckFailed | StudentError | StudentImportError | StudentCrash):
        return str(exc)
    if isinstance(exc, AssertionError):
        return str(exc) or "assertion failed"
    return f"the check could not use your result: {type(exc).__name__}: {exc}"


def _hidden_failure(exc: BaseException | None) -> str:
    """A hidden check's failure in fixed words: nothing the student's code chose (exception
    class names, messages, exit codes, output) can carry the check's inputs out; only which
    of a few fixed outcomes happened."""
    if isinstance(exc, CheckFailed):  # a diagnosis and a hint are the check's fixed words
        return ("hidden check failed." + (f" {exc.diagnosis}" if exc.diagnosis else "")
                + (f" Hint: {exc.hint}" if exc.hint else ""))
    if isinstance(exc, TimeoutError) or (isinstance(exc, pytest.fail.Exception)
                                         and str(exc).startswith("Timeout")):
        return "hidden check failed: your code did not finish in time."
    if isinstance(exc, StudentError) and exc.isinstance_of("NotImplementedError"):
        return "hidden check failed: not implemented yet (NotImplementedError)."
    if isinstance(exc, StudentError):
        return "hidden check failed: your code raised an exception."
    if isinstance(exc, StudentCrash):
        return ("hidden check failed: the process running your code stopped (a crash, "
                "sys.exit or too much memory).")
    if isinstance(exc, StudentImportError):
        return "hidden check failed: your module could not be imported (see the visible checks)."
    return "hidden check failed."
