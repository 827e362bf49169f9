"""`python -m autograder grade ...`: one pytest session over the checks, then the reports."""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import os
import platform
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from autograder import render
from autograder.proxy import DEFAULT_MEMORY_LIMIT_GIB, PROJECT_ROOT
from autograder.results import CheckResult, Results

CHECKS_DIR = Path(__file__).resolve().parent / "tests"
GRADING_INI = Path(__file__).resolve().parent / "grading.ini"
EXIT_OK, EXIT_BELOW_THRESHOLD, EXIT_GRADER_ERROR = 0, 1, 2


class GraderError(Exception):
    """The grader itself cannot run: a bad argument or a broken check, never the student."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m autograder",
                                     description="Grade course assignments.")
    sub = parser.add_subparsers(dest="command", required=True)
    grade = sub.add_parser("grade", help="grade a submission")
    grade.add_argument("assignments", nargs="*", metavar="ASSIGNMENT",
                       help="assignment ids to grade (default: all)")
    grade.add_argument("--submission", default=str(PROJECT_ROOT / "assignments"),
                       help="folder holding one folder per assignment (default: assignments/)")
    grade.add_argument("--out", default=str(PROJECT_ROOT / "grading"),
                       help="where results.json, report.md, junit.xml, gradebook.csv go")
    grade.add_argument("--fail-under", type=float, default=None, metavar="PERCENT",
                       help="exit with 1 when the total is below PERCENT")
    grade.add_argument("--seed", type=int, default=0, help="seed of every check (default 0)")
    grade.add_argument("--memory-limit", type=float, default=DEFAULT_MEMORY_LIMIT_GIB,
                       metavar="GIB", help="address-space limit of the student's process")
    grade.add_argument("--checks-dir", default=str(CHECKS_DIR), help=argparse.SUPPRESS)
    grade.add_argument("--checks-filter", default=None, metavar="EXPR",
                       help="only run checks matching this pytest -k expression")
    grade.add_argument("--student", default=os.environ.get("GITHUB_REPOSITORY", ""),
                       help="name in the gradebook row (default: $GITHUB_REPOSITORY)")
    return parser


def check_files(checks_dir: Path, wanted: list[str]) -> list[Path]:
    available = {p.stem.removeprefix("test_"): p for p in sorted(checks_dir.glob("test_*.py"))}
    if not available:
        raise GraderError(f"no check files (test_*.py) in {checks_dir}")
    unknown = [a for a in wanted if a not in available]
    if unknown:
        raise GraderError(f"unknown assignment(s) {', '.join(unknown)}; "
                          f"choose from: {', '.join(available)}")
    return [available[a] for a in wanted] if wanted else list(available.values())


def _version(*names: str) -> str | None:
    for name in names:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


def _git_commit(folder: Path) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"],
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def _checks_digest(files: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _extra_data(files: list[Path], submission: Path, seed: int) -> dict:
    return {
        "seed": seed,
        "python": platform.python_version(),
        "tensorflow": _version("tensorflow-cpu", "tensorflow"),
        "keras": _version("keras"),
        "numpy": _version("numpy"),
        "checks_sha256": _checks_digest(files),
        "submission_commit": _git_commit(submission),
    }


def run_checks(files: list[Path], args: argparse.Namespace, results: Results,
               console: Console, out: Path) -> None:
    """Run one pytest session over the check files; record every outcome in `results`."""
    import pytest  # the session below is the trusted side: pytest runs our checks only

    from autograder.plugin import GraderPlugin

    status = console.status("collecting checks")

    def started(check: CheckResult) -> None:
        status.update(escape(f"{check.assignment} › {check.number} {check.name}"))

    def finished(check: CheckResult) -> None:
        mark = "✓" if check.score == check.max_score else ("~" if check.score else "✗")
        console.print(f"  {mark} {check.assignment} {check.number} {check.name}: "
                      f"{check.score:g}/{check.max_score:g}", highlight=False, markup=False)

    plugin = GraderPlugin(Path(args.submission).resolve(), results, seed=args.seed,
                          memory_limit_gib=args.memory_limit, on_start=started,
                          on_result=finished, save=lambda: results.write(out / "results.json"))
    checks_dir = Path(args.checks_dir).resolve()
    pytest_args = [*map(str, files), "-c", str(GRADING_INI), "--rootdir", str(checks_dir),
                   "--confcutdir", str(checks_dir), "-p", "pytest_timeout",
                   "-p", "no:cacheprovider", "-p", "no:warnings", "-p", "no:logging",
                   "--import-mode=importlib", "--capture=no", "-qq", "--no-header",
                   "--no-summary", "--tb=no"]
    if args.checks_filter:
        pytest_args += ["-k", args.checks_filter]
    # Only our plugins: nothing installed or lying around can hook into grading.
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_DETERMINISTIC_OPS", "1")
    # pytest's own terminal output (and pytest-timeout's stack dumps) would only repeat, less
    # clearly, what the progress lines and the table say.
    with status, contextlib.redirect_stdout(io.StringIO()):
        code = pytest.main(pytest_args, plugins=[plugin])
    if plugin.error:
        raise GraderError(plugin.error)
    if code not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        raise GraderError(f"the check session ended with pytest exit code {int(code)}")


def grade(args: argparse.Namespace, console: Console) -> int:
    submission = Path(args.submission)
    out = Path(args.out)
    results = Results()
    start = time.perf_counter()
    try:
        if not submission.is_dir():
            raise GraderError(f"submission folder {submission} does not exist "
                              "(pass --submission DIR, e.g. --submission assignments)")
        files = check_files(Path(args.checks_dir), args.assignments)
        results.extra_data = _extra_data(files, submission.resolve(), args.seed)
        run_checks(files, args, results, console, out)
    except GraderError as exc:
        results.grader_error = str(exc)
    except Exception as exc:  # a bug in the grader must still leave valid results
        results.grader_error = f"internal error {type(exc).__name__}: {exc}"
    results.execution_time = time.perf_counter() - start
    write_reports(results, out, args.student or str(submission))
    render.terminal(results, console)
    console.print(f"Points {results.score:g}/{results.max_score:g}", highlight=False)
    console.print(f"Reports in {out}/ (results.json, report.md, junit.xml, gradebook.csv)",
                  highlight=False)
    if results.grader_error:
        console.print("This is a problem with the grader, not with your code.", style="red")
        return EXIT_GRADER_ERROR
    percent = 100 * results.score / results.max_score if results.max_score else 0.0
    if args.fail_under is not None and percent < args.fail_under:
        return EXIT_BELOW_THRESHOLD
    return EXIT_OK


def write_reports(results: Results, out: Path, student: str) -> None:
    """results.json last written after the final check is rewritten whole, then the renderings."""
    results.write(out / "results.json")
    report = render.markdown(results)
    (out / "report.md").write_text(report, encoding="utf-8")
    (out / "junit.xml").write_text(render.junit(results), encoding="utf-8")
    (out / "gradebook.csv").write_text(render.gradebook_row(results, student), encoding="utf-8")
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as f:
            f.write(report + "\n")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = Console(file=sys.stdout, highlight=False, soft_wrap=False)
    try:
        return grade(args, console)
    except Exception as exc:  # exit 1 means "below threshold": a grader crash must not look so
        console.print(f"Grader error (not your fault): {type(exc).__name__}: {exc}",
                      markup=False)
        return EXIT_GRADER_ERROR
