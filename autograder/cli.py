"""`python -m autograder grade|release|student-repo|leaderboard ...`: the engine's command line.

`grade` runs one pytest session over the checks the registry names, then writes the reports;
`release`, `student-repo` and `leaderboard` are in release.py, export.py and leaderboard.py.
`grade-class` and `merge-class` are in classgrade.py.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib
import io
import os
import platform
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from autograder import classgrade, gradescope, registry, render, sandbox
from autograder.hidden import read_manifest
from autograder.registry import HIDDEN_CHECKS, HIDDEN_MANIFEST, PROJECT_ROOT, PUBLIC_CHECKS, Course
from autograder.results import CheckResult, Results, write_report

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
    grade.add_argument("--seed", type=int, default=None,
                       help="seed of every check's inputs (default 0; with --official a fresh "
                            "secret seed, recorded in results.json for regrades)")
    grade.add_argument("--memory-limit", type=float, default=None, metavar="GIB",
                       help="address-space limit of the student's process "
                            "(default: the assignment's worker policy in course.toml)")
    grade.add_argument("--course", default=str(registry.DEFAULT_REGISTRY), help=argparse.SUPPRESS)
    grade.add_argument("--sandbox", default="auto", choices=sandbox.MODES,
                       help="where student code runs: bwrap (bubblewrap), user (a dedicated "
                            "unprivileged user, when root), none; auto picks the strongest")
    grade.add_argument("--official", action="store_true",
                       help="an official grading: refuse to run without a sandbox")
    grade.add_argument("--checks-filter", default=None, metavar="EXPR",
                       help="only run checks matching this pytest -k expression")
    grade.add_argument("--student", default=os.environ.get("GITHUB_REPOSITORY", ""),
                       help="name in the gradebook row (default: $GITHUB_REPOSITORY)")
    release = sub.add_parser("release", help="generate assignments/ from solutions/ (nbgrader)")
    release.add_argument("assignments", nargs="*", metavar="ASSIGNMENT",
                         help="assignment ids to release (default: all)")
    export = sub.add_parser("student-repo",
                            help="write the repository students receive (a git repository)")
    export.add_argument("dest", metavar="DEST", help="a new or empty folder")
    for command in (release, export):
        command.add_argument("--course", default=str(registry.DEFAULT_REGISTRY),
                             help=argparse.SUPPRESS)
    board = sub.add_parser("leaderboard", help="rank results.json files: leaderboard.md, .html")
    board.add_argument("results", nargs="+", metavar="RESULTS",
                       help="results.json files, or folders holding one")
    board.add_argument("--out", default=str(PROJECT_ROOT / "grading"),
                       help="where leaderboard.md and leaderboard.html go")
    board.add_argument("--title", default="Leaderboard", help="the page's title")
    gradescope.add_parser(sub)
    classgrade.add_parsers(sub)
    return parser


def check_files(course: Course, wanted: list[str]) -> tuple[list[Path], dict[str, list]]:
    """The check files to run, and the hidden checks known only by their manifest.

    Each assignment has a test_public.py; its hidden checks are a test_hidden.py (the
    instructor's repository) or a hidden_checks.json (a student's export: titles and points).
    """
    files: list[Path] = []
    instructor_only: dict[str, list[tuple[str, float]]] = {}
    for assignment in course.select(wanted):
        folder = course.check_folder(assignment.id)
        public = folder / PUBLIC_CHECKS
        if not public.is_file():
            raise GraderError(f"{public} is missing: every assignment in course.toml needs "
                              f"its public checks there")
        files.append(public)
        if (folder / HIDDEN_CHECKS).is_file():
            files.append(folder / HIDDEN_CHECKS)
        elif (folder / HIDDEN_MANIFEST).is_file():
            instructor_only[assignment.id] = read_manifest(folder / HIDDEN_MANIFEST)
    return files, instructor_only


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


def _extra_data(course: Course, files: list[Path], submission: Path, seed: int) -> dict:
    versions = {name: _version(*packages) for name, packages in course.versions.items()}
    return {
        "seed": seed,
        "python": platform.python_version(),
        **versions,
        "checks_sha256": _checks_digest(files),
        "submission_commit": _git_commit(submission),
    }


def import_before_workers(assignments: list) -> None:
    """Import what the trusted side will use, before any student code runs (a module planted
    later where Python looks could otherwise be imported by a lazy import).

    TensorFlow writes start-up lines (oneDNN, absl) from C++ straight to file descriptor 2
    before its logging is set up, whatever TF_CPP_MIN_LOG_LEVEL says: the imports run with
    that descriptor on /dev/null (an import error still arrives as an exception).
    """
    with _stderr_silenced():
        for name in dict.fromkeys(m for a in assignments for m in a.policy.grader_imports):
            try:
                importlib.import_module(name)
            except ImportError as exc:
                raise GraderError(f"the grader needs {name}: {exc}") from None


@contextlib.contextmanager
def _stderr_silenced() -> Iterator[None]:
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def run_checks(course: Course, files: list[Path], instructor_only: dict[str, list],
               args: argparse.Namespace, results: Results, console: Console, out: Path,
               box: sandbox.Sandbox) -> None:
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

    plugin = GraderPlugin(course, Path(args.submission).resolve(), results, box, seed=args.seed,
                          memory_limit_gib=args.memory_limit, instructor_only=instructor_only,
                          on_start=started, on_result=finished,
                          save=lambda: results.write(out / "results.json"))
    checks_dir = course.checks_dir.resolve()
    pytest_args = [*map(str, files), "-c", str(GRADING_INI), "--rootdir", str(checks_dir),
                   "--confcutdir", str(checks_dir), "-p", "pytest_timeout",
                   "-p", "no:cacheprovider", "-p", "no:warnings", "-p", "no:logging",
                   "--import-mode=importlib", "--capture=no", "-qq", "--no-header",
                   "--no-summary", "--tb=no"]
    if args.checks_filter:
        pytest_args += ["-k", args.checks_filter]
    # Only our plugins: nothing installed or lying around can hook into grading.
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
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
        course = registry.load(Path(args.course))
        files, instructor_only = check_files(course, args.assignments)
        box = sandbox.choose(args.sandbox, official=args.official)
        if args.seed is None:  # recorded answers to one grading's inputs do not transfer
            args.seed = secrets.randbelow(2**31) if args.official else 0
        if not box.isolated:
            console.print(sandbox.UNSANDBOXED_NOTICE, style="yellow", soft_wrap=True)
        results.extra_data = _extra_data(course, files, submission.resolve(), args.seed)
        results.extra_data["sandbox"] = box.mode
        for name, value in course.grader_env.items():  # before TensorFlow is imported
            os.environ.setdefault(name, value)
        import_before_workers(course.select(args.assignments))
        run_checks(course, files, instructor_only, args, results, console, out, box)
    except (GraderError, registry.RegistryError, sandbox.SandboxError) as exc:
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
    write_report(out / "report.md", report)
    write_report(out / "junit.xml", render.junit(results))
    write_report(out / "gradebook.csv", render.gradebook_row(results, student))
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as f:
            f.write(report + "\n")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = Console(file=sys.stdout, highlight=False, soft_wrap=False)
    if getattr(args, "course", None) == str(registry.DEFAULT_REGISTRY) and \
            not registry.DEFAULT_REGISTRY.is_file():
        # An installed engine (pip install) sits in site-packages, not in a course checkout:
        # it would find no assignment, and write its reports there.
        console.print(f"No course here: {registry.DEFAULT_REGISTRY} is missing. Run "
                      "`python -m autograder` from a checkout of the course repository "
                      "(the folder holding course.toml).", markup=False, soft_wrap=True)
        return EXIT_GRADER_ERROR
    if args.command == "gradescope-zip":
        return gradescope.main(args, console)
    if args.command in classgrade.COMMANDS:
        return classgrade.main(args)
    if args.command == "leaderboard":
        from autograder import leaderboard

        return leaderboard.main(args.results, args.out, args.title)
    if args.command != "grade":
        return _instructor_command(args, console)
    try:
        return grade(args, console)
    except Exception as exc:  # exit 1 means "below threshold": a grader crash must not look so
        console.print(f"Grader error (not your fault): {type(exc).__name__}: {exc}",
                      markup=False)
        return EXIT_GRADER_ERROR


def _instructor_command(args: argparse.Namespace, console: Console) -> int:
    """`release` or `student-repo`: 0 when done, 2 with a one-line reason when not."""
    from autograder import export, release

    try:
        course = registry.load(Path(args.course))
        if args.command == "release":
            changed = release.release(course, args.assignments, log=console.print)
            console.print(f"Released {len(course.select(args.assignments))} assignment(s); "
                          f"{len(changed)} file(s) changed.")
        else:
            export.student_repo(course, Path(args.dest), log=console.print)
    except (registry.RegistryError, release.ReleaseError, export.ExportError) as exc:
        console.print(f"{args.command} failed: {exc}", markup=False, soft_wrap=True)
        return EXIT_GRADER_ERROR
    return EXIT_OK
