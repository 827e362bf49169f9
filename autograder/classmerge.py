"""`merge-class`: the shards of one `grade-class` run joined into the class's files.

Everything is checked before anything is written: every folder must be a finished shard
(its shard.json), all of the same roster, deadline and assignments, no student twice, and
together they must cover every roster row, so a missing or doubled shard is an error, never a
gradebook that silently lacks students.
"""

from __future__ import annotations

import json
import shutil
import statistics
from collections.abc import Callable
from pathlib import Path

from autograder import leaderboard
from autograder.leaderboard import md_escape
from autograder.records import GRADED, RECORD, SHARD_FILE, gradebook_csv, read_record
from autograder.results import write_report

_SAME = ("roster_sha256", "roster_rows", "deadline", "assignments")


class MergeError(Exception):
    """The shards cannot be merged; the message says which folder and why."""


def _read_shard(folder: Path) -> dict:
    path = folder / SHARD_FILE
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except OSError:
        raise MergeError(f"{folder}: no {SHARD_FILE}: not a finished grade-class --out "
                         "folder (did its run end?)") from None
    except ValueError:
        raise MergeError(f"{path}: not valid JSON") from None
    if not isinstance(info, dict) or any(key not in info for key in (*_SAME, "students")):
        raise MergeError(f"{path}: not a grade-class shard file")
    return info


def load_shards(folders: list[Path]) -> tuple[dict, list[tuple[Path, dict]]]:
    """The shards' common settings and every student's (folder, record), in roster order."""
    shards = [(folder, _read_shard(folder)) for folder in folders]
    first_folder, first = shards[0]
    by_row: dict[int, tuple[Path, dict]] = {}
    where: dict[str, Path] = {}
    for folder, info in shards:
        for key in _SAME:
            if info[key] != first[key]:
                raise MergeError(f"{folder} and {first_folder} differ in {key} "
                                 f"({info[key]!r} and {first[key]!r}): not one class's run")
        for entry in info["students"]:
            student, row = str(entry["student"]), int(entry["row"])
            if student in where or row in by_row:
                other = where.get(student) or by_row[row][0]
                raise MergeError(f"student {student!r} (roster row {row + 1}) is in both "
                                 f"{other} and {folder}: a shard was given twice?")
            record = read_record(folder / "students" / student / RECORD)
            if record is None or record["student"] != student:
                raise MergeError(f"{folder}: no record for student {student!r}")
            where[student] = folder
            by_row[row] = (folder / "students" / student, record)
    missing = [str(row + 1) for row in range(first["roster_rows"]) if row not in by_row]
    if missing:
        raise MergeError(f"roster row(s) {', '.join(missing[:20])} are in no shard given "
                         f"({len(by_row)} of {first['roster_rows']} students): is a shard "
                         "missing?")
    return first, [by_row[row] for row in sorted(by_row)]


def merge(folders: list[Path], out: Path, log: Callable[[str], None]) -> int:
    """Write out/gradebook.csv, summary.md, students/ and, when any grading has leaderboard
    entries, leaderboard.md and .html. 0 when done, 2 when the leaderboard cannot be made."""
    settings, students = load_shards(folders)
    records = [record for _, record in students]
    for source, record in students:
        target = out / "students" / record["student"]
        if source.resolve() != target.resolve():  # merging a single run into itself
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(source, target, symlinks=True)
    write_report(out / "gradebook.csv", gradebook_csv(records, settings["assignments"]))
    write_report(out / "summary.md", summary(records, settings))
    graded = [r for r in records if r["status"] == GRADED]
    boards = [out / "students" / r["student"] / "results.json" for r in graded
              if _has_leaderboard(out / "students" / r["student"] / "results.json")]
    log(f"Merged {len(records)} student(s) from {len(folders)} shard(s) into {out}/ "
        "(gradebook.csv, summary.md, students/)")
    if boards:
        return leaderboard.main([str(p) for p in boards], str(out), "Leaderboard")
    return 0


def _has_leaderboard(path: Path) -> bool:
    try:
        return bool(json.loads(path.read_text(encoding="utf-8")).get("leaderboard"))
    except (OSError, ValueError, AttributeError):
        return False


def _stats(values: list[float]) -> tuple[str, str]:
    if not values:
        return "", ""
    return f"{statistics.fmean(values):.2f}", f"{statistics.median(values):g}"


def summary(records: list[dict], settings: dict) -> str:
    """The class in Markdown: counts, mean and median per assignment, students without a grade."""
    graded = [r for r in records if r["status"] == GRADED]
    counts: dict[str, int] = {}
    for r in records:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    lines = ["# Class grading summary", "",
             f"- Deadline: {settings['deadline'] or 'none (newest commits)'}",
             f"- Students: {len(records)}",
             *(f"- {md_escape(status)}: {count}" for status, count in counts.items()), "",
             "| assignment | max | mean | median | graded |", "|---|---:|---:|---:|---:|"]
    for assignment in settings["assignments"]:
        values = [r["points"][assignment] for r in graded if assignment in r["points"]]
        top = max((r["max_points"].get(assignment, 0) for r in graded), default=0)
        mean, median = _stats(values)
        lines.append(f"| {md_escape(assignment)} | {top:g} | {mean} | {median} | "
                     f"{len(values)} |")
    mean, median = _stats([r["score"] for r in graded])
    top = max((r["max_score"] for r in graded), default=0)
    lines += [f"| **total** | {top:g} | {mean} | {median} | {len(graded)} |", ""]
    failed = [r for r in records if r["status"] != GRADED]
    if failed:
        lines += ["## Students without a grade", "", "| student | status | reason |",
                  "|---|---|---|"]
        lines += [f"| {md_escape(r['student'])} | {md_escape(r['status'])} | "
                  f"{md_escape(r['reason'])} |" for r in failed]
        lines.append("")
    return "\n".join(lines)
