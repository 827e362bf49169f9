"""A student's record of `grade-class` and the class gradebook rendered from records.

Each student's folder gets a `done.json`, written atomically after everything else: its
presence means the student's grading is over (graded, or why not). A shard's `shard.json`,
written last, says which roster rows the shard covered.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

RECORD = "done.json"
SHARD_FILE = "shard.json"
GRADED = "graded"
NO_COMMIT = "no commit before deadline"
CLONE_FAILED = "clone failed"
GRADER_ERROR = "grader error"
# Kept on resume; a failed clone or a grader error is tried again by the next run.
FINAL = (GRADED, NO_COMMIT)
MAX_RECORD_BYTES = 2**20
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def read_record(path: Path) -> dict | None:
    """The record at `path`, or None when there is none (or only a damaged one)."""
    try:
        if not path.is_file() or path.is_symlink() or path.stat().st_size > MAX_RECORD_BYTES:
            return None
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and isinstance(record.get("student"), str) else None


def _cell(text: str) -> str:
    """Text a spreadsheet shows as text: a leading = + - @ would start a formula (OWASP)."""
    return "'" + text if text.startswith(_FORMULA) else text


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def gradebook_csv(records: list[dict], assignments: list[str]) -> str:
    """One row per record, in the order given: who, what was graded, points, why not."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["student", "repository", "commit", "status", *assignments, "total",
                     "max", "percent", "reason"])
    for r in records:
        graded = r["status"] == GRADED
        points = [_number(r["points"].get(a)) if graded else "" for a in assignments]
        percent = (f"{100 * r['score'] / r['max_score']:.2f}" if graded and r["max_score"]
                   else "")
        writer.writerow([_cell(r["student"]), _cell(r["repository"]), r["commit"], r["status"],
                         *points, _number(r["score"]) if graded else "",
                         _number(r["max_score"]) if graded else "", percent,
                         _cell(r["reason"])])
    return out.getvalue()
