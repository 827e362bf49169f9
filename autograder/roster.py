"""The class roster of `grade-class`: a CSV of student ids and repositories, validated whole.

A roster is read before anything is cloned or written: one bad line is an error naming it, so
a typo never turns into a half-graded class. Student ids become folder names and gradebook
cells, repositories become `git clone` arguments, so both are checked against strict patterns.
"""

from __future__ import annotations

import csv
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

REQUIRED_COLUMNS = ("student", "repository")
STUDENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
URL_SCHEMES = ("https", "http", "ssh", "git", "file")
# `user@host:path`, git's scp-like ssh syntax
SCP_LIKE = re.compile(r"[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:.+")
MAX_ROSTER_BYTES = 10 * 2**20


class RosterError(Exception):
    """The roster or a shard is invalid; the message names the line."""


@dataclass(frozen=True)
class Student:
    """One roster row: its position among the data rows (0-based), id and repository."""

    row: int
    line: int
    student: str
    repository: str

    @property
    def is_https(self) -> bool:
        return self.repository.startswith("https://")

    @property
    def display(self) -> str:
        """The repository as written in gradebooks and logs: any user or password dropped."""
        return strip_credentials(self.repository)


@dataclass(frozen=True)
class Roster:
    students: list[Student]
    sha256: str  # of the file's bytes: merge-class checks that shards graded the same roster


def strip_credentials(repository: str) -> str:
    """`https://user:token@host/x.git` -> `https://host/x.git`; other forms unchanged."""
    if "://" not in repository:
        return repository
    parts = urlsplit(repository)
    if "@" not in parts.netloc:
        return repository
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def read_roster(path: Path) -> Roster:
    """Parse and validate `path`; local repository paths are resolved against its folder."""
    try:
        if not path.is_file():
            raise RosterError(f"{path}: no such roster file")
        if path.stat().st_size > MAX_ROSTER_BYTES:
            raise RosterError(f"{path}: larger than {MAX_ROSTER_BYTES // 2**20} MiB")
        data = path.read_bytes()
        text = data.decode("utf-8-sig")  # a spreadsheet's byte-order mark is not a header
    except OSError as exc:
        raise RosterError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise RosterError(f"{path}: not UTF-8 text") from None
    rows = csv.reader(text.splitlines())
    try:
        header = [cell.strip() for cell in next(rows)]
    except StopIteration:
        raise RosterError(f"{path}: empty (the first line must be 'student,repository')") from None
    except csv.Error as exc:
        raise RosterError(f"{path}:1: {exc}") from None
    columns = _columns(path, header)
    students: list[Student] = []
    seen: dict[str, int] = {}
    line = 1
    try:
        for line, cells in enumerate(rows, start=2):
            if not any(cell.strip() for cell in cells):
                continue  # blank lines (a trailing one from a spreadsheet) are not students
            if len(cells) != len(header):
                raise RosterError(f"{path}:{line}: {len(cells)} fields, the header has "
                                  f"{len(header)}")
            student = cells[columns["student"]].strip()
            repository = cells[columns["repository"]].strip()
            _check_student(path, line, student, seen)
            repository = _check_repository(path, line, repository)
            seen[student.casefold()] = line
            students.append(Student(len(students), line, student, repository))
    except csv.Error as exc:
        raise RosterError(f"{path}:{line}: {exc}") from None
    if not students:
        raise RosterError(f"{path}: no students (only a header)")
    return Roster(students, hashlib.sha256(data).hexdigest())


def _columns(path: Path, header: list[str]) -> dict[str, int]:
    """Where the required columns are. Other columns (names, emails kept next to the ids) are
    allowed and ignored; a duplicated or missing required column is refused."""
    found: dict[str, int] = {}
    for i, name in enumerate(header):
        if name in REQUIRED_COLUMNS and name in found:
            raise RosterError(f"{path}:1: column {name!r} appears twice")
        found.setdefault(name, i)
    missing = [name for name in REQUIRED_COLUMNS if name not in found]
    if missing:
        raise RosterError(f"{path}:1: the header needs columns 'student,repository' "
                          f"(missing {', '.join(missing)}; found {','.join(header)!r})")
    return found


def _check_student(path: Path, line: int, student: str, seen: dict[str, int]) -> None:
    if not STUDENT_ID.fullmatch(student):
        raise RosterError(f"{path}:{line}: student id {student[:120]!r} must be 1 to 100 "
                          "letters, digits, '.', '_' or '-', starting with a letter or digit")
    # Case-insensitive: on macOS or Windows "Ana" and "ana" would share a results folder.
    if student.casefold() in seen:
        raise RosterError(f"{path}:{line}: student {student!r} is already on line "
                          f"{seen[student.casefold()]}")


def _check_repository(path: Path, line: int, repository: str) -> str:
    """The repository to clone: a URL of an allowed scheme, `user@host:path`, or a local path
    (made absolute). Anything git could read as an option or a remote helper is refused."""
    where = f"{path}:{line}: repository {repository[:200]!r}"
    if not repository:
        raise RosterError(f"{path}:{line}: empty repository")
    if repository.startswith("-") or any(ord(c) < 32 or c == "\x7f" for c in repository):
        raise RosterError(f"{where} is not a URL or a path")
    if "://" in repository:
        scheme = repository.split("://", 1)[0].lower()
        if scheme not in URL_SCHEMES or not urlsplit(repository).netloc and scheme != "file":
            raise RosterError(f"{where}: the URL must be {', '.join(URL_SCHEMES)}")
        return repository
    if "::" in repository:  # `ext::sh -c ...`: git's remote helpers can run commands
        raise RosterError(f"{where}: remote helpers (transport::address) are not allowed")
    if SCP_LIKE.fullmatch(repository):
        return repository
    local = Path(repository).expanduser()
    return str(local if local.is_absolute() else (path.parent / local).resolve())


def parse_shard(text: str) -> tuple[int, int]:
    """`I/N` (1 <= I <= N) -> (I, N)."""
    match = re.fullmatch(r"\s*(\d{1,6})\s*/\s*(\d{1,6})\s*", text)
    if not match:
        raise RosterError(f"shard {text!r} must be I/N, e.g. 1/4")
    index, count = int(match[1]), int(match[2])
    if not 1 <= index <= count:
        raise RosterError(f"shard {text!r}: I must be between 1 and N")
    return index, count


def shard(students: list[Student], index: int, count: int) -> list[Student]:
    """Shard `index` of `count` (1-based): every count-th roster row, starting at row index-1,
    so shards are disjoint, cover the roster, and each gets a similar share."""
    return [s for s in students if s.row % count == index - 1]
