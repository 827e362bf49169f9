"""`grade-class` and `merge-class`: the official grading of a whole class, shard by shard.

`grade-class ROSTER --out DIR` clones each student's repository of its shard at the deadline,
grades the checkout with `python -m autograder grade --official` in a subprocess (the sandbox,
the hidden checks, a fresh secret seed), and keeps a record per student, written last, so a run
that is interrupted resumes where it stopped. `merge-class` joins the shards' records into the
class's gradebook, a summary and the leaderboard.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from autograder import registry, sandbox
from autograder.classmerge import MergeError, merge
from autograder.clone import CloneError, Credentials, clone_at_deadline
from autograder.records import (
    CLONE_FAILED,
    FINAL,
    GRADED,
    GRADER_ERROR,
    NO_COMMIT,
    RECORD,
    SHARD_FILE,
    gradebook_csv,
    read_record,
)
from autograder.results import write_report
from autograder.roster import Roster, RosterError, Student, parse_shard, read_roster, shard

COMMANDS = ("grade-class", "merge-class")
EXIT_OK, EXIT_ERROR = 0, 2
GRADE_TIMEOUT_S = 3 * 3600.0
PACKAGE_PARENT = Path(__file__).resolve().parent.parent  # where `-m autograder` finds us


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register `grade-class` and `merge-class` on the CLI's subcommands."""
    grade = sub.add_parser("grade-class", help="official grading of every student of a roster")
    grade.add_argument("roster", metavar="ROSTER", help="CSV with columns student,repository")
    grade.add_argument("--out", required=True, help="where gradebook.csv and students/ go")
    grade.add_argument("--deadline", default=None, metavar="ISO8601",
                       help="grade the last commit at or before this time, with its UTC offset "
                            "(e.g. 2026-05-01T23:59:00+02:00; default: the newest commit)")
    grade.add_argument("--shard", default="1/1", metavar="I/N",
                       help="grade only shard I of N of the roster (default 1/1: all of it)")
    grade.add_argument("--jobs", type=int, default=1, metavar="N",
                       help="gradings run in parallel (default 1)")
    grade.add_argument("--token-env", default="GRADE_CLASS_TOKEN", metavar="NAME",
                       help="environment variable holding a token for https clones "
                            "(default GRADE_CLASS_TOKEN)")
    grade.add_argument("--token-host", default="github.com", metavar="HOST",
                       help="the only host the token is sent to (default github.com)")
    grade.add_argument("--assignments", nargs="+", default=[], metavar="ID",
                       help="assignment ids to grade (default: all)")
    grade.add_argument("--course", default=str(registry.DEFAULT_REGISTRY), help=argparse.SUPPRESS)
    merge_cmd = sub.add_parser("merge-class", help="merge grade-class shards into one gradebook")
    merge_cmd.add_argument("shards", nargs="+", metavar="SHARD_DIR",
                           help="--out folders of grade-class runs")
    merge_cmd.add_argument("--out", required=True, help="where the class's files go")


def main(args: argparse.Namespace) -> int:
    """Run `grade-class` or `merge-class`: 0 when done, 2 with a one-line reason when not."""
    try:
        if args.command == "merge-class":
            return merge([Path(p) for p in args.shards], Path(args.out), print)
        return grade_class(args)
    except (RosterError, MergeError, registry.RegistryError, sandbox.SandboxError,
            OSError) as exc:  # OSError: the output folder cannot be written
        print(f"{args.command} failed: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(f"{args.command} interrupted: run it again to resume", file=sys.stderr)
        return 130


@dataclass(frozen=True)
class Run:
    """What one grade-class run grades, and how: everything a student's grading needs."""

    roster: Roster
    out: Path
    course: str
    assignments: list[str]
    deadline: datetime | None
    shard: tuple[int, int]
    credentials: Credentials | None
    token_env: str

    def matches(self, record: dict, student: Student) -> bool:
        """A record this run may keep instead of grading again."""
        return (record.get("status") in FINAL and record.get("repository") == student.display
                and record.get("deadline") == _iso(self.deadline)
                and record.get("assignments") == self.assignments)


def parse_deadline(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        deadline = datetime.fromisoformat(text)
    except ValueError:
        raise RosterError(f"--deadline {text!r} is not an ISO 8601 time") from None
    if deadline.tzinfo is None:  # git would read it in this machine's time zone
        raise RosterError(f"--deadline {text!r} needs a UTC offset, e.g. {text}+00:00 or {text}Z")
    return deadline


def _iso(deadline: datetime | None) -> str | None:
    return None if deadline is None else deadline.isoformat()


def grade_class(args: argparse.Namespace) -> int:
    """Validate everything, grade what is not done yet, write the shard's gradebook last."""
    if args.jobs < 1:
        raise RosterError("--jobs must be at least 1")
    roster = read_roster(Path(args.roster))
    course = registry.load(Path(args.course))
    token = os.environ.get(args.token_env, "")
    run = Run(roster=roster, out=Path(args.out), course=args.course,
              assignments=[a.id for a in course.select(args.assignments)],
              deadline=parse_deadline(args.deadline), shard=parse_shard(args.shard),
              credentials=Credentials(token, args.token_host) if token else None,
              token_env=args.token_env)
    sandbox.choose("auto", official=True)  # fail now, not once per student
    students = shard(roster.students, *run.shard)
    records: dict[str, dict] = {}
    todo = []
    for student in students:
        record = read_record(run.out / "students" / student.student / RECORD)
        if record is not None and run.matches(record, student):
            records[student.student] = record
        else:
            todo.append(student)
    print(f"Shard {run.shard[0]}/{run.shard[1]}: {len(students)} student(s), "
          f"{len(students) - len(todo)} already done, {len(todo)} to grade")
    _grade_all(run, todo, records, args.jobs)
    ordered = [records[s.student] for s in students]
    write_report(run.out / "gradebook.csv", gradebook_csv(ordered, run.assignments))
    shard_info = {"roster_sha256": roster.sha256, "roster_rows": len(roster.students),
                  "shard": list(run.shard), "deadline": _iso(run.deadline),
                  "assignments": run.assignments,
                  "students": [{"row": s.row, "student": s.student} for s in students]}
    write_report(run.out / SHARD_FILE, json.dumps(shard_info, indent=2) + "\n")
    shutil.rmtree(run.out / ".clones", ignore_errors=True)
    failed = sum(r["status"] != GRADED for r in ordered)
    print(f"Gradebook of {len(ordered)} student(s) in {run.out / 'gradebook.csv'}"
          + (f" ({failed} without a grade: see the reason column)" if failed else ""))
    return EXIT_OK


def _grade_all(run: Run, todo: list[Student], records: dict[str, dict], jobs: int) -> None:
    from tqdm import tqdm  # the progress bar goes to stderr; tqdm hides it when not a terminal

    pool = ThreadPoolExecutor(max_workers=jobs)
    try:
        with tqdm(total=len(todo), unit="student", file=sys.stderr, disable=None) as bar:
            futures = [pool.submit(grade_student, run, s) for s in todo]
            for future in as_completed(futures):
                record = future.result()
                records[record["student"]] = record
                points = (f"{record['score']:g}/{record['max_score']:g}"
                          if record["status"] == GRADED else record["reason"])
                bar.write(f"{record['student']}: {record['status']} ({points})",
                          file=sys.stdout)
                bar.update()
    finally:  # on Ctrl-C the gradings under way end (they got it too); no new one starts
        pool.shutdown(wait=True, cancel_futures=True)


def grade_student(run: Run, student: Student) -> dict:
    """Clone, grade, and write the student's record (atomically, last); return the record."""
    folder = run.out / "students" / student.student
    if folder.exists():  # a retry starts clean: no report of an earlier attempt survives
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    clone = run.out / ".clones" / student.student
    record = {"student": student.student, "repository": student.display, "row": student.row,
              "commit": "", "status": GRADED, "reason": "", "points": {}, "max_points": {},
              "score": None, "max_score": None, "deadline": _iso(run.deadline),
              "assignments": run.assignments}
    try:
        checkout = clone_at_deadline(student.repository, clone, run.deadline,
                                     credentials=run.credentials)
        if checkout.commit is None:
            record.update(status=NO_COMMIT, reason=checkout.reason)
        else:
            record["commit"] = checkout.commit
            record.update(_grade_checkout(run, student, clone, folder))
    except CloneError as exc:
        reason = str(exc).replace(student.repository, student.display)
        record.update(status=CLONE_FAILED, reason=f"clone failed: {reason}")
    finally:
        shutil.rmtree(clone, ignore_errors=True)
    record["graded_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    write_report(folder / RECORD, json.dumps(record, indent=2) + "\n")
    return record


def _grade_checkout(run: Run, student: Student, clone: Path, folder: Path) -> dict:
    submission = clone / "assignments"
    note = ""
    if submission.is_symlink() or not submission.is_dir():
        # Nothing submitted is graded as such (every check fails), not as a grader error.
        if submission.is_symlink() or submission.exists():
            submission.unlink()
        submission.mkdir()
        note = "no assignments/ folder at this commit"
    command = [sys.executable, "-m", "autograder", "grade", "--official",
               "--submission", str(submission), "--out", str(folder),
               "--student", student.student, "--course", run.course, *run.assignments]
    env = {k: v for k, v in os.environ.items()
           if k != run.token_env and not k.startswith("GIT_CONFIG")
           and k != "GITHUB_STEP_SUMMARY"}  # one job summary per student would flood it
    with open(folder / "grade.log", "w", encoding="utf-8") as log:
        # Our process group: Ctrl-C or a cancelled job stops the grading too (its workers
        # die with it).
        proc = subprocess.Popen(command, cwd=PACKAGE_PARENT, env=env, stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT)
        try:
            code = proc.wait(timeout=GRADE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return {"status": GRADER_ERROR,
                    "reason": f"grader error: grading took over {GRADE_TIMEOUT_S:g} s"}
    results = _read_results(folder / "results.json")
    if code not in (0, 1) or results is None:
        return {"status": GRADER_ERROR, "reason": "grader error: " + _grader_error(results, code)}
    points: dict[str, float] = {}
    max_points: dict[str, float] = {}
    for test in results["tests"]:
        assignment = test["tags"][0]
        points[assignment] = round(points.get(assignment, 0) + test["score"], 4)
        max_points[assignment] = round(max_points.get(assignment, 0) + test["max_score"], 4)
    return {"status": GRADED, "reason": note, "points": points, "max_points": max_points,
            "score": results["score"], "max_score": results["extra_data"]["max_score"]}


def _read_results(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _grader_error(results: dict | None, code: int) -> str:
    """The first line of the grader's own error message, else its exit code."""
    output = results.get("output", "") if isinstance(results, dict) else ""
    for line in output.splitlines():
        if line.startswith("GRADER ERROR"):
            return line.split(": ", 1)[-1][:300]
    return f"the grader exited with code {code} (see grade.log)"

