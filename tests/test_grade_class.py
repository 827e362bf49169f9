"""Does `grade-class` grade each student's last commit before the deadline, say why a student
has no grade, resume without regrading, shard and merge into the same gradebook, refuse a bad
roster before writing anything, and never write its token anywhere?

Every repository is a real git repository made here (commits dated around the deadline),
cloned by path or file:// URL; the gradings are real official gradings of the fake assignment
in tests/fixtures/grader/ (sandboxed, hidden checks).
"""

from __future__ import annotations

import base64
import csv
import io
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from grader_helpers import ASSIGNMENT, FAKE_COURSE, ROOT, SUBMISSIONS, grader_env

from autograder import cli, sandbox
from autograder.clone import Credentials, git_env
from autograder.leaderboard import md_escape

needs_bwrap = pytest.mark.skipif(
    not sandbox.bwrap_works() and os.environ.get("AUTOGRADER_REQUIRE_SANDBOX") != "1",
    reason="bubblewrap cannot run here (.ci/run installs it); grade-class is official")
DEADLINE = "2024-03-01T12:00:00+00:00"
BEFORE, AFTER = "2024-02-28T09:00:00+00:00", "2024-03-02T09:00:00+00:00"
CORRECT, WRONG = 10.0, 2.25  # the fake assignment's scores of submissions correct/ and wrong/
TOKEN = "sekrit-123"


def make_repo(path: Path, commits: list[tuple[str, str | None]]) -> list[str]:
    """A repository at `path` whose default branch has one commit per (date, case): the
    fixture submission `case` as assignments/99_fake/fake.py, or no assignments/ when None."""
    path.mkdir(parents=True)
    git = ["git", "-C", str(path), "-c", "user.name=Student", "-c", "user.email=s@example.com"]
    subprocess.run([*git, "init", "--quiet", "--initial-branch=main"], check=True)
    shas = []
    for date, case in commits:
        shutil.rmtree(path / "assignments", ignore_errors=True)
        (path / "notes.txt").write_text(f"{date} {case}\n")
        if case is not None:
            shutil.copytree(SUBMISSIONS / case / ASSIGNMENT, path / "assignments" / ASSIGNMENT)
        env = {**os.environ, "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}
        subprocess.run([*git, "add", "--all"], check=True)
        subprocess.run([*git, "commit", "--quiet", "-m", f"{case} at {date}"], check=True,
                       env=env)
        shas.append(subprocess.run([*git, "rev-parse", "HEAD"], check=True, text=True,
                                   capture_output=True).stdout.strip())
    return shas


def grade_class(roster: Path, out: Path, *args: str, env: dict[str, str] | None = None,
                **kwargs) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "autograder", "grade-class", str(roster), "--out", str(out),
               "--course", str(FAKE_COURSE), *args]
    return subprocess.run(command, cwd=ROOT, env={**grader_env(out), **(env or {})},
                          capture_output=True, text=True, timeout=300, **kwargs)


def merge_class(out: Path, *shards: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "autograder", "merge-class", *map(str, shards),
               "--out", str(out)]
    return subprocess.run(command, cwd=ROOT, env=grader_env(out), capture_output=True,
                          text=True, timeout=120)


def gradebook(folder: Path) -> dict[str, dict[str, str]]:
    text = (folder / "gradebook.csv").read_text(encoding="utf-8")
    return {row["student"]: row for row in csv.DictReader(io.StringIO(text))}


def timeless(path: Path) -> str:
    return re.sub(r"after \d+ ms", "after N ms", path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def klass(tmp_path_factory) -> dict:
    """A class of six, graded once: the roster, its repositories' commits, the run's output."""
    root = tmp_path_factory.mktemp("class")
    shas = {
        "ana": make_repo(root / "repos" / "ana", [(BEFORE, "wrong"), (AFTER, "correct")]),
        "ben": make_repo(root / "repos" / "ben", [(BEFORE, "correct")]),
        "cy": make_repo(root / "repos" / "cy", [(AFTER, "correct")]),
        "eve": make_repo(root / "repos" / "eve", [(BEFORE, None)]),
    }
    roster = root / "roster.csv"
    roster.write_text("student,repository,email\n"
                      "ana,repos/ana,ana@example.com\n"
                      f"ben,file://{root}/repos/ben,\n"
                      f"cy,{root}/repos/cy,\n"
                      "dee,https://127.0.0.1:9/dee.git,\n"
                      "eve,repos/eve,\n"
                      "fay,repos/missing,\n")
    out = root / "out"
    proc = grade_class(roster, out, "--deadline", DEADLINE, "--jobs", "2")
    return {"root": root, "roster": roster, "shas": shas, "out": out, "proc": proc}


@needs_bwrap
def test_the_last_commit_before_the_deadline_is_graded(klass):
    """Is ana's earlier (wrong) commit graded, not her later correct one, by path and URL?"""
    assert klass["proc"].returncode == 0, klass["proc"].stdout + klass["proc"].stderr
    book = gradebook(klass["out"])
    assert list(book) == ["ana", "ben", "cy", "dee", "eve", "fay"]  # roster order
    ana, ben = book["ana"], book["ben"]
    assert ana["commit"] == klass["shas"]["ana"][0] and ana["status"] == "graded"
    assert float(ana[ASSIGNMENT]) == float(ana["total"]) == WRONG and ana["max"] == "10"
    assert ana["percent"] == "22.50" and ana["repository"] == str(klass["root"] / "repos/ana")
    assert ben["commit"] == klass["shas"]["ben"][0] and float(ben["total"]) == CORRECT
    results = (klass["out"] / "students" / "ana" / "results.json").read_text()
    assert klass["shas"]["ana"][0] in results  # the grading's own provenance agrees
    assert "hidden" in results  # an official grading: the hidden check ran
    for name in ("results.json", "report.md", "junit.xml", "gradebook.csv", "grade.log"):
        assert (klass["out"] / "students" / "ben" / name).is_file(), name


@needs_bwrap
def test_students_without_a_grade_get_a_row_saying_why(klass):
    """No commit before the deadline, an unclonable URL, a missing path, no assignments/:
    does each get its row (every assignment column present) while the run goes on?"""
    book = gradebook(klass["out"])
    assert book["cy"]["status"] == "no commit before deadline" and book["cy"]["commit"] == ""
    assert DEADLINE in book["cy"]["reason"]
    for student in ("dee", "fay"):
        row = book[student]
        assert row["status"] == "clone failed" and row["reason"].startswith("clone failed: ")
        assert row[ASSIGNMENT] == row["total"] == row["percent"] == ""
    assert "127.0.0.1" in book["dee"]["reason"] and "missing" in book["fay"]["reason"]
    eve = book["eve"]  # a commit without assignments/ is a submission of nothing: zero
    assert eve["status"] == "graded" and float(eve["total"]) == 0
    assert eve["reason"] == "no assignments/ folder at this commit"


@needs_bwrap
def test_a_second_run_regrades_nothing_that_is_done(klass, tmp_path):
    """Rerun on the same folder: are graded students and the no-commit one kept as they were
    (same files, same seed), while failed clones are tried again?"""
    out = shutil.copytree(klass["out"], tmp_path / "out")
    kept = ("ana", "ben", "cy", "eve")
    before = {s: (out / "students" / s / "done.json").stat().st_mtime_ns for s in kept}
    results = (out / "students" / "ana" / "results.json").read_text()
    time.sleep(0.05)
    proc = grade_class(klass["roster"], out, "--deadline", DEADLINE)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "4 already done, 2 to grade" in proc.stdout
    assert {s: (out / "students" / s / "done.json").stat().st_mtime_ns for s in kept} == before
    assert (out / "students" / "ana" / "results.json").read_text() == results
    assert timeless(out / "gradebook.csv") == timeless(klass["out"] / "gradebook.csv")
    # Another deadline is another grading: nothing is kept.
    proc = grade_class(klass["roster"], out, "--deadline", AFTER)
    assert "0 already done, 6 to grade" in proc.stdout
    assert gradebook(out)["ana"]["commit"] == klass["shas"]["ana"][1]


@needs_bwrap
def test_a_killed_run_resumes_without_half_written_files(tmp_path):
    """Killed while grading its second student: is there no gradebook, and does the next run
    grade only what was not done?"""
    make_repo(tmp_path / "fast", [(BEFORE, "correct")])
    make_repo(tmp_path / "slow", [(BEFORE, "slow")])  # its scale check times out (seconds)
    roster = tmp_path / "roster.csv"
    roster.write_text("student,repository\nfirst,fast\nsecond,slow\nthird,fast\n")
    out = tmp_path / "out"
    command = [sys.executable, "-m", "autograder", "grade-class", str(roster), "--out",
               str(out), "--course", str(FAKE_COURSE)]
    proc = subprocess.Popen(command, cwd=ROOT, env=grader_env(out), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not (out / "students" / "second" / "grade.log").is_file():
            assert time.monotonic() < deadline and proc.poll() is None, "no second grading"
            time.sleep(0.1)
        time.sleep(1)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the run and the grading under way
        proc.wait()
    assert not (out / "gradebook.csv").exists() and not (out / "shard.json").exists()
    assert not (out / "students" / "second" / "done.json").exists()
    first = (out / "students" / "first" / "done.json").stat().st_mtime_ns
    done = grade_class(roster, out)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 already done, 2 to grade" in done.stdout
    assert (out / "students" / "first" / "done.json").stat().st_mtime_ns == first
    book = gradebook(out)
    assert [row["status"] for row in book.values()] == ["graded"] * 3
    assert float(book["second"]["total"]) < CORRECT == float(book["third"]["total"])


@needs_bwrap
def test_shards_merge_into_the_unsharded_gradebook(klass, tmp_path):
    """Shards 1/2 and 2/2, merged: the same gradebook as one run, plus a summary?"""
    one, two = tmp_path / "one", tmp_path / "two"
    for shard, out in (("1/2", one), ("2/2", two)):
        proc = grade_class(klass["roster"], out, "--deadline", DEADLINE, "--shard", shard)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    assert list(gradebook(one)) == ["ana", "cy", "eve"] and list(gradebook(two)) == [
        "ben", "dee", "fay"]
    merged = tmp_path / "class"
    proc = merge_class(merged, two, one)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # the same bytes, but for curl's "after N ms" in the reason of an unclonable URL
    assert timeless(merged / "gradebook.csv") == timeless(klass["out"] / "gradebook.csv")
    assert sorted(p.name for p in (merged / "students").iterdir()) == sorted(gradebook(merged))
    summary = (merged / "summary.md").read_text()
    assert "- Students: 6" in summary and "- graded: 3" in summary
    assert "| dee | clone failed |" in summary and "| cy | no commit before deadline |" in summary
    # mean (2.25 + 10 + 0) / 3, median 2.25 (the Markdown escapes the id's underscore)
    assert f"| {md_escape(ASSIGNMENT)} | 10 | 4.08 | 2.25 | 3 |" in summary
    assert not (merged / "leaderboard.md").exists()  # the fake course has no leaderboard

    proc = merge_class(tmp_path / "dup", one, two, one)
    assert proc.returncode == 2 and "in both" in proc.stderr
    proc = merge_class(tmp_path / "half", one)
    assert proc.returncode == 2 and "roster row(s) 2, 4, 6" in proc.stderr
    assert not (tmp_path / "dup").exists() and not (tmp_path / "half").exists()


@pytest.mark.parametrize(("roster", "args", "message"), [
    ("name,repository\nana,x\n", [], "roster.csv:1: the header needs columns"),
    ("student,repository\nana,x\n../up,y\n", [], "roster.csv:3: student id '../up'"),
    ("student,repository\nAna,x\nana,y\n", [], "roster.csv:3: student 'ana' is already on "
                                               "line 2"),
    ("student,repository\nana,\n", [], "roster.csv:2: empty repository"),
    ("student,repository\nana,ext::sh -c touch% /tmp/pwned\n", [], "roster.csv:2: repository"),
    ("student,repository\nana,--upload-pack=touch /tmp/x\n", [], "roster.csv:2: repository"),
    ("student,repository\nana,x,extra\n", [], "roster.csv:2: 3 fields"),
    ("student,repository\n", [], "no students"),
    ("student,repository\nana,x\n", ["--shard", "3/2"], "shard '3/2'"),
    ("student,repository\nana,x\n", ["--shard", "one/2"], "must be I/N"),
    ("student,repository\nana,x\n", ["--deadline", "2024-03-01T12:00"], "needs a UTC offset"),
    ("student,repository\nana,x\n", ["--jobs", "0"], "--jobs"),
])
def test_a_bad_roster_or_option_is_refused_before_anything_is_written(
        tmp_path, capsys, roster, args, message):
    """Does each mistake exit 2 with a message naming its line, and write nothing?"""
    (tmp_path / "roster.csv").write_text(roster)
    out = tmp_path / "out"
    code = cli.main(["grade-class", str(tmp_path / "roster.csv"), "--out", str(out),
                     "--course", str(FAKE_COURSE), *args])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


@needs_bwrap
def test_the_token_is_never_written(tmp_path):
    """With a token for the failing host: is it absent from every file and all output, and is a
    password in a roster URL dropped from the gradebook?"""
    roster = tmp_path / "roster.csv"
    roster.write_text("student,repository\nana,https://127.0.0.1:9/x.git\n"
                      "ben,https://ben:hunter2@127.0.0.1:9/y.git\n")
    out = tmp_path / "out"
    proc = grade_class(roster, out, "--token-host", "127.0.0.1", env={"GRADE_CLASS_TOKEN": TOKEN})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    book = gradebook(out)
    assert [row["status"] for row in book.values()] == ["clone failed"] * 2
    assert book["ben"]["repository"] == "https://127.0.0.1:9/y.git"
    secrets = [TOKEN, base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode(), "hunter2"]
    written = [p.read_bytes() for p in out.rglob("*") if p.is_file()]
    for secret in secrets:
        assert secret not in proc.stdout + proc.stderr
        assert not any(secret.encode() in blob for blob in written), secret


def test_the_token_goes_only_to_its_host_over_https():
    """Is the header in git's environment (not its arguments) only for https on the host?"""
    credentials = Credentials(TOKEN, "github.com")
    env = git_env("https://github.com/org/repo.git", credentials)
    assert env["GIT_CONFIG_KEY_0"] == "http.extraHeader"
    assert env["GIT_CONFIG_VALUE_0"] == credentials.header
    assert env["GIT_TERMINAL_PROMPT"] == "0"
    for other in ("http://github.com/org/repo.git", "https://evil.example/repo.git",
                  "git@github.com:org/repo.git", "/srv/repo"):
        assert "GIT_CONFIG_VALUE_0" not in git_env(other, credentials), other
    assert credentials.scrub(f"x {credentials.header} {TOKEN}") == "x *** ***"
