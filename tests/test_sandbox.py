"""Does a hostile submission get its honest score, whatever it tries from the worker?

Each attack is a fake submission of the fake assignment (tests/fixtures/grader/submissions/):
escaping the worker (planting modules in the grader's folder, stopping the grader, a detached
process that rewrites the reports after the grading), reading instructor files and secrets,
and writing forged replies into the grader's connection. Each grading must end with exit 0,
the honest score, a complete and valid set of reports, and no process left behind.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from grader_helpers import (
    ASSIGNMENT,
    FAKE_COURSE,
    ROOT,
    SUBMISSIONS,
    grader_command,
    grader_env,
    run_grader,
    validate_reports,
    worker_processes_since,
)

from autograder import sandbox

# Skipped where bubblewrap cannot run, except in CI (AUTOGRADER_REQUIRE_SANDBOX=1), where
# .ci/run installs it and a skip would hide a broken sandbox.
needs_bwrap = pytest.mark.skipif(
    not sandbox.bwrap_works() and os.environ.get("AUTOGRADER_REQUIRE_SANDBOX") != "1",
    reason="bubblewrap cannot run here (.ci/run installs it)")
SECRET = "s3cr3t-token-4f9a"
SEED = "424242"


def _attack(case: str, tmp_path: Path, *args: str, env: dict[str, str] | None = None,
            prepare=None) -> tuple:
    """Grade submissions/<case> from a fresh working folder; (grading, working folder)."""
    submission = shutil.copytree(SUBMISSIONS / case, tmp_path / "submission")
    workdir = tmp_path / "grader-cwd"
    workdir.mkdir()
    out = tmp_path / "out"
    (submission / ASSIGNMENT / "out_dir.txt").write_text(str(out))
    if prepare:
        prepare(workdir)
    start = time.time()
    grading = run_grader(submission, out, ASSIGNMENT, *args, cwd=workdir,
                         env={**grader_env(out), **(env or {})}, timeout=120)
    time.sleep(3)  # let anything left behind act
    leftovers = worker_processes_since(start)
    for pid in leftovers:
        os.kill(pid, 9)
    assert not leftovers, f"processes outlived the grading: {leftovers}"
    return grading, workdir


@needs_bwrap
def test_escaping_the_worker_changes_nothing(tmp_path):
    """A submission that plants modules in the grader's folder, SIGSTOPs every process it can
    see and leaves a process rewriting the reports: is it graded 0 with intact reports, the
    grader's last line last, no planted file and nothing left running?"""
    grading, workdir = _attack("escape_grader", tmp_path)
    assert grading.returncode == 0, grading.stdout
    assert grading.scores == (0.0, 0.0, 0.0)
    assert not list(workdir.iterdir()), f"files planted: {list(workdir.iterdir())}"
    assert "FORGED" not in grading.file("results.json") + grading.file("report.md")
    validate_reports(grading)
    lines = grading.stdout.strip().splitlines()
    assert lines[-1].endswith("gradebook.csv)"), lines[-3:]  # the grader's last line
    assert "PLANTED" not in grading.stdout and "Points 10/10" not in grading.stdout


@needs_bwrap
def test_instructor_files_and_secrets_are_out_of_reach(tmp_path):
    """A submission that imports solutions/ through the grader's folder, reads the grader's
    environment and command line and writes to GITHUB_ENV: is it graded 0, with no secret,
    no seed and nothing of the grader's environment in its feedback?"""
    github = {name: tmp_path / name.lower() for name in
              ("GITHUB_ENV", "GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY")}
    for path in github.values():
        path.write_text("")

    def plant_solution(workdir: Path) -> None:
        (workdir / "solutions" / ASSIGNMENT).mkdir(parents=True)
        shutil.copyfile(SUBMISSIONS / "correct" / ASSIGNMENT / "fake.py",
                        workdir / "solutions" / ASSIGNMENT / "fake.py")

    env = {"SECRET_TOKEN": SECRET, **{k: str(v) for k, v in github.items()}}
    grading, _ = _attack("steal_instructor_files", tmp_path, "--seed", SEED, env=env,
                         prepare=plant_solution)
    assert grading.returncode == 0, grading.stdout
    assert grading.scores == (0.0, 0.0, 0.0)
    feedback = "\n".join(t["output"] for t in grading.tests) + grading.file("report.md")
    for secret in (SECRET, SEED, "SECRET_TOKEN", "GITHUB_", str(ROOT)):  # the repo's path too
        assert secret not in feedback, f"{secret!r} reached the feedback"
    assert "found nothing to copy" in grading.tests[0]["output"]
    for path in github.values():
        assert "STOLEN" not in path.read_text()


@needs_bwrap
def test_forged_replies_are_refused_and_cost_only_their_checks(tmp_path):
    """Do replies written straight into the grader's connection (a million levels deep, a
    huge declared array, a pickle that runs a command) each fail their own check quickly?"""
    start = time.perf_counter()
    grading, _ = _attack("forged_reply", tmp_path)
    assert time.perf_counter() - start < 60
    assert grading.returncode == 0, grading.stdout
    assert grading.scores == (0.0, 0.0, 0.0)
    for test in grading.tests[:2]:
        assert "the grader refused the reply from your code" in test["output"], test["output"]
    validate_reports(grading)


def test_planted_report_folders_are_replaced_by_reports(tmp_path):
    """When the output folder holds folders and links where the reports go, does the grader
    still write every report as a regular file, touching nothing outside?"""
    out = tmp_path / "out"
    out.mkdir()
    outside = tmp_path / "outside.txt"
    outside.write_text("keep")
    (out / "results.json").mkdir()
    (out / "report.md").symlink_to(outside)
    (out / "junit.xml").mkdir()
    grading = run_grader(SUBMISSIONS / "correct", out, ASSIGNMENT)
    assert grading.returncode == 0, grading.stdout
    assert grading.scores == (2.0, 3.0, 5.0)
    for name in ("results.json", "report.md", "junit.xml", "gradebook.csv"):
        assert (out / name).is_file() and not (out / name).is_symlink(), name
    assert outside.read_text() == "keep"
    validate_reports(grading)


def test_official_grading_refuses_to_run_unsandboxed(tmp_path):
    """Does `--official --sandbox none` stop with exit 2 and say how to get a sandbox?"""
    grading = run_grader(SUBMISSIONS / "correct", tmp_path, ASSIGNMENT, "--official",
                         "--sandbox", "none")
    assert grading.returncode == 2
    assert "official gradings run sandboxed" in grading.results["output"]
    assert grading.results["tests"] == []


def test_unsandboxed_grading_says_so_and_still_grades(tmp_path):
    """Does a student's grading without a sandbox print a one-line notice and grade fully?"""
    grading = run_grader(SUBMISSIONS / "correct", tmp_path, ASSIGNMENT, "--sandbox", "none")
    assert grading.returncode == 0
    assert grading.scores == (2.0, 3.0, 5.0)
    assert "without a sandbox" in grading.stdout
    assert grading.results["extra_data"]["sandbox"] == "none"


@needs_bwrap
def test_the_worker_sees_neither_repository_nor_environment(tmp_path):
    """Inside the sandbox, is the repository absent, the environment an allow-list and the
    network unreachable?"""
    probe = tmp_path / "probe"
    (probe / ASSIGNMENT).mkdir(parents=True)
    (probe / ASSIGNMENT / "fake.py").write_text(
        "import os, socket\n"
        "def add(a, b):\n"
        "    seen = [p for p in %r if os.path.exists(p)]\n"
        "    try:\n"
        "        socket.create_connection(('127.0.0.1', 22), timeout=1)\n"
        "        net = 'open'\n"
        "    except OSError:\n"
        "        net = 'closed'\n"
        "    raise ValueError(f'seen={seen} net={net} env={sorted(os.environ)}')\n"
        % [str(ROOT), str(ROOT / "solutions"), str(ROOT / "course")])
    grading = run_grader(probe, tmp_path / "out", ASSIGNMENT,
                         env={**grader_env(tmp_path / "out"), "SECRET_TOKEN": SECRET})
    output = grading.tests[0]["output"]
    assert "seen=[]" in output and "net=closed" in output, output
    assert "SECRET_TOKEN" not in output and "GITHUB" not in output


def test_a_grader_module_planted_in_the_working_folder_is_never_imported(tmp_path):
    """With a `rich.py` that would forge output in the grader's working folder, does the
    grader import its own libraries (the working folder is not on its import path)?"""
    (tmp_path / "rich.py").write_text("raise SystemExit('PLANTED rich imported')\n")
    done = subprocess.run(grader_command(SUBMISSIONS / "correct", tmp_path / "out", ASSIGNMENT,
                                         course=FAKE_COURSE),
                          cwd=tmp_path, env=grader_env(tmp_path / "out"), capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PLANTED" not in done.stdout + done.stderr
    assert "Points 10/10" in done.stdout


@pytest.fixture
def sandbox_user():
    """The unprivileged sandbox user, created when missing (root only), with this Python's
    folders made traversable for the duration of the test (under /root they are not)."""
    if os.geteuid() != 0:
        pytest.skip("the 'user' sandbox needs the grader to run as root")
    try:
        pwd.getpwnam(sandbox.SANDBOX_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell",
                        "/usr/sbin/nologin", sandbox.SANDBOX_USER], check=True)
    changed = {}
    for folder in [*Path(sys.executable).parents, *Path(sys.base_prefix).parents]:
        mode = folder.stat().st_mode
        if not mode & 0o001:
            changed[folder] = mode
            folder.chmod(mode | 0o001)
    sandbox.user_mode_works.cache_clear()
    try:
        yield sandbox.SANDBOX_USER
    finally:
        for folder, mode in changed.items():
            folder.chmod(mode)
        sandbox.user_mode_works.cache_clear()


def test_the_user_sandbox_grades_and_keeps_instructor_files_out_of_reach(tmp_path,
                                                                       sandbox_user):
    """As Gradescope's fallback (root grader, unprivileged worker): does a correct submission
    get full marks, and the stealing one 0 with no secret in its feedback?"""
    correct = run_grader(SUBMISSIONS / "correct", tmp_path / "correct", ASSIGNMENT,
                         "--sandbox", "user")
    assert correct.returncode == 0 and correct.scores == (2.0, 3.0, 5.0), correct.stdout

    def plant_solution(workdir: Path) -> None:
        (workdir / "solutions" / ASSIGNMENT).mkdir(parents=True)
        shutil.copyfile(SUBMISSIONS / "correct" / ASSIGNMENT / "fake.py",
                        workdir / "solutions" / ASSIGNMENT / "fake.py")
        workdir.chmod(0o700)  # instructor files unreadable by the sandbox user

    grading, _ = _attack("steal_instructor_files", tmp_path / "steal", "--sandbox", "user",
                         env={"SECRET_TOKEN": SECRET}, prepare=plant_solution)
    assert grading.returncode == 0, grading.stdout
    assert grading.scores == (0.0, 0.0, 0.0)
    assert grading.results["extra_data"]["sandbox"] == "user"
    assert SECRET not in "\n".join(t["output"] for t in grading.tests)


def test_the_user_sandbox_is_refused_when_its_user_cannot_run_python(sandbox_user):
    """A Python the sandbox user cannot run (a virtual environment in root's home) must be a
    clear refusal before grading, not a PermissionError in every check."""
    venv_bin = Path(sys.executable).parent
    mode = venv_bin.stat().st_mode
    venv_bin.chmod(mode & ~0o007)
    sandbox.user_mode_works.cache_clear()
    try:
        assert not sandbox.user_mode_works()
        with pytest.raises(sandbox.SandboxError, match="readable by that user"):
            sandbox.choose("user")
    finally:
        venv_bin.chmod(mode)
        sandbox.user_mode_works.cache_clear()
    assert sandbox.user_mode_works()
