"""End-to-end self-tests of the grader: each fake submission gets an exact score per check.

Every case is one run of `python -m autograder grade 99_fake` in a subprocess (under a second
each; the infinite loop costs its 10 s check timeout). The fake checks are add (2 points),
scale (3 points, a quarter per factor, with `score.set`) and norm (5 points, hidden).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time

import numpy as np
import pytest
from grader_helpers import (
    ASSIGNMENT,
    FAKE_CHECKS,
    FAKE_COURSE,
    HIDDEN_INDEX,
    NOT_RUN_PREFIX,
    POINTS,
    ROOT,
    SUBMISSIONS,
    Grading,
    grade_case,
    grader_command,
    grader_env,
    run_grader,
    validate_reports,
    validate_results,
    worker_processes_since,
)

# case: (add /2, scale /3, norm /5 hidden), a fragment of what the student reads.
CASES = {
    "correct": ((2, 3, 5), ""),
    # add subtracts, scale drops the sign of k (right for 3 factors of 4), norm skips the sqrt
    "wrong": ((0, 2.25, 0), "partial credit: 75% of 3 points"),
    "not_implemented": ((0, 0, 0), "not implemented yet: add() raised NotImplementedError"),
    "syntax_error": ((0, 0, 0), "could not be imported: SyntaxError at fake.py:6"),
    "import_error": ((0, 0, 0), "could not be imported: RuntimeError at fake.py:5"),
    "missing": ((0, 0, 0), "fake.py was not found in"),  # the file was renamed fake_v2.py
    # norm loops forever: after 2 s of CPU time its check fails and the worker is killed
    "infinite_loop": ((2, 3, 0), "hidden check failed: your code did not finish in time."),
    "sys_exit_import": ((0, 0, 0), "SystemExit at fake.py:7 in <module>: sys.exit(0) was called"),
    "os_exit": ((2, 0, 5), "running scale() exited with code 0"),
    # 20 GB under the worker's 6 GiB address-space limit: a MemoryError in add only
    "memory_hog": ((0, 3, 5), "add() raised MemoryError"),
    # 100 MB printed in add, then the right answer: the output goes to a pipe that a grader
    # thread drains keeping a 4 KB tail, the reply to a separate socket, so nothing is lost
    "print_flood": ((2, 3, 5), ""),
    "nan": ((0, 3, 5), "12 value(s) are NaN or infinite"),
    "wrong_dtype": ((2, 0, 5), "expected dtype float32, got float64"),
    # tampering: zeros for answers, plus a conftest.py/sitecustomize.py/pytest.ini forcing
    # passes (graded from inside the submission folder), pytest patched at import, or a
    # full-marks results.json written into --out at import and in every call
    "conftest_hack": ((0, 0, 0), "values differ"),
    "pytest_patch": ((0, 0, 0), "values differ"),
    "results_writer": ((0, 0, 0), "values differ"),
    "self_sigkill": ((0, 3, 5), "running add() was killed by SIGKILL"),
    "self_sigterm": ((2, 0, 5), "running scale() was killed by SIGTERM"),
    # norm prints its inputs, then raises with them in the message / kills its worker
    "leaky_error": ((2, 3, 0), "hidden check failed: your code raised an exception."),
    "leaky_crash": ((2, 3, 0), "hidden check failed: the process running your code stopped"),
    # norm raises an exception whose class name holds its inputs
    "leaky_names": ((2, 3, 0), "hidden check failed: your code raised an exception."),
    # answers recorded at seed 0 (the default): full marks here, nothing with another seed
    "recorded_answers": ((2, 3, 5), ""),
    # add raises with Rich markup, ANSI codes, control characters and a lone surrogate
    "hostile_message": ((0, 3, 5), "ValueError: [/bold] [red]x[/red] red nul bs cr sur? end"),
    # warnings, stderr prints, logging and TF-style log lines at import and in every call
    "noisy": ((2, 3, 5), ""),
}
CWD = {"conftest_hack": SUBMISSIONS / "conftest_hack"}  # the worst place to run the grader from


@pytest.fixture(scope="session")
def graded(tmp_path_factory: pytest.TempPathFactory):
    """Grade a case once per session: `graded(case)` returns its Grading."""
    cache: dict[str, Grading] = {}

    def get(case: str) -> Grading:
        if case not in cache:
            out = tmp_path_factory.mktemp(f"graded-{case}")
            cache[case] = grade_case(case, out, cwd=CWD.get(case, ROOT))
        return cache[case]

    return get


def _hidden_inputs(seed: int = 0) -> np.ndarray:
    """The inputs of the hidden norm check (as course/99_fake/test_hidden.py derives them)."""
    return np.random.default_rng([seed, 4]).standard_normal((4, 3)).astype(np.float32)


@pytest.mark.parametrize("case", list(CASES))
def test_fake_submission_gets_its_exact_score(case, graded):
    """Does each fake submission get exactly its expected points per check, with exit code 0,
    a valid results.json and reports that agree with it?"""
    (expected, fragment) = CASES[case]
    grading = graded(case)
    assert grading.returncode == 0, grading.stdout
    names = [t["name"].split()[0] for t in grading.tests]
    assert names == ["add", "scale", "norm"]
    assert grading.scores == tuple(float(x) for x in expected), [t["output"] for t in grading.tests]
    assert grading.results["score"] == sum(expected)
    assert [t["max_score"] for t in grading.tests] == list(POINTS)
    assert ["hidden" in t["tags"] for t in grading.tests] == [False, False, True]
    assert all(t["tags"][0] == ASSIGNMENT for t in grading.tests)
    outputs = "\n".join(t["output"] for t in grading.tests)
    assert fragment in outputs
    if sum(expected) == sum(POINTS):
        assert outputs == "\n\n", "a full-marks run has no failure output"
    validate_reports(grading)


# cases whose hidden check fails while running (not at import, which shows the import error)
HIDDEN_FAILURES = ["wrong", "not_implemented", "infinite_loop", "leaky_error", "leaky_crash",
                   "leaky_names",
                   "conftest_hack", "pytest_patch", "results_writer"]


@pytest.mark.parametrize("case", HIDDEN_FAILURES)
def test_hidden_check_failure_shows_neither_inputs_nor_the_students_message(case, graded):
    """When the hidden check fails, does its output give only fixed words or the hint, never
    its inputs, its expected values, or what the student printed or raised?"""
    grading = graded(case)
    output = grading.tests[HIDDEN_INDEX]["output"]
    assert output.startswith("hidden check failed"), output
    assert not re.search(r"\d\.\d", output), f"a number in the hidden output: {output!r}"
    x = _hidden_inputs()
    values = [*x.ravel(), *np.sqrt((x * x).sum(axis=1))]
    for secret in ["LEAKED", "Traceback", "fake.py:", *(f"{abs(v):.3f}" for v in values)]:
        assert secret not in output, f"{secret!r} leaked into the hidden check's output"
    for name in ("results.json", "report.md", "junit.xml"):
        assert "LEAKED" not in grading.file(name), f"the student's print leaked into {name}"


def test_visible_check_may_show_the_output_tail_of_a_crash(tmp_path):
    """Does a visible check that crashes show the end of what the student printed (the hidden
    one never does)?"""
    sub = tmp_path / "sub" / ASSIGNMENT
    sub.mkdir(parents=True)
    source = (SUBMISSIONS / "correct" / ASSIGNMENT / "fake.py").read_text()
    source += ("\n\ndef add(a, b):\n    import os\n    print('debug: about to exit', flush=True)"
               "\n    os._exit(4)\n")
    (sub / "fake.py").write_text(source)
    grading = run_grader(tmp_path / "sub", tmp_path / "out", ASSIGNMENT)
    assert grading.scores == (0.0, 3.0, 5.0)
    assert grading.tests[0]["output"] == (
        "the worker process running add() exited with code 4 (sys.exit or os._exit in your "
        "code?); last output:\ndebug: about to exit")


@pytest.mark.parametrize("case", ["wrong", "os_exit"])
def test_grading_twice_gives_identical_results(case, graded, tmp_path):
    """Does grading the same submission twice give identical tests[] and identical reports?"""
    first, second = graded(case), grade_case(case, tmp_path)
    assert first.tests == second.tests
    for name in ("report.md", "junit.xml", "gradebook.csv"):
        assert first.file(name) == second.file(name), name
    drop = ("execution_time",)
    assert ({k: v for k, v in first.results.items() if k not in drop}
            == {k: v for k, v in second.results.items() if k not in drop})


@pytest.mark.parametrize("case", ["wrong", "missing"])
def test_a_correct_module_on_the_graders_path_never_stands_in(case, graded, tmp_path):
    """With a correct fake.py in the grader's cwd and on its PYTHONPATH (nbgrader #940), is the
    file in --submission still the one graded (wrong or missing scoring as such)?"""
    shadow = tmp_path / "shadow"
    (shadow / ASSIGNMENT).mkdir(parents=True)
    correct = SUBMISSIONS / "correct" / ASSIGNMENT / "fake.py"
    shutil.copy(correct, shadow / "fake.py")
    shutil.copy(correct, shadow / ASSIGNMENT / "fake.py")
    out = tmp_path / "out"
    env = grader_env(out, PYTHONPATH=os.pathsep.join([str(shadow), str(ROOT)]))
    grading = grade_case(case, out, cwd=shadow, env=env)
    assert grading.scores == graded(case).scores
    assert grading.tests == graded(case).tests


def test_results_writer_cannot_replace_the_graders_files(graded):
    """Are the results.json and reports in --out the grader's own, not the full-marks files a
    submission wrote there while being graded?"""
    grading = graded("results_writer")
    assert grading.results["score"] == 0
    for name in ("results.json", "report.md", "junit.xml", "gradebook.csv"):
        assert "FORGED" not in grading.file(name), name


def test_noise_from_student_code_never_changes_a_score(graded):
    """Do warnings, stderr prints and TF-style logs leave scores and outputs exactly as for a
    quiet correct submission?"""
    assert graded("noisy").tests == graded("correct").tests


@pytest.mark.parametrize(("case", "fail_under", "code"), [
    ("correct", 100, 0),
    ("wrong", 50, 1),     # 2.25/10 = 22.5 %
    ("wrong", 22.5, 0),   # exactly at the threshold passes
])
def test_fail_under_sets_the_exit_code(case, fail_under, code, tmp_path):
    """Does --fail-under exit with 1 below the threshold and 0 at or above it?"""
    grading = grade_case(case, tmp_path, "--fail-under", str(fail_under))
    assert grading.returncode == code, grading.stdout


def test_unknown_assignment_is_a_grader_error(tmp_path):
    """Does an unknown assignment name exit with 2, naming it and the known ones, and still
    leave a valid results.json?"""
    grading = run_grader(SUBMISSIONS / "correct", tmp_path, "99_nope")
    assert grading.returncode == 2
    message = "unknown assignment '99_nope'; course.toml lists: 99_fake"
    stdout = " ".join(grading.stdout.split())  # the terminal renderer wraps long lines
    assert message in stdout and message in grading.results["output"]
    assert "This is a problem with the grader, not with your code." in stdout
    assert "GRADER ERROR" in grading.results["output"]
    assert grading.results["tests"] == [] and grading.results["score"] == 0
    validate_reports(grading)


BROKEN_CHECKS = {
    "no points": ("@pytest.mark.points(3)\n", "", "test_scale: every check needs"),
    "zero points": ("@pytest.mark.points(3)\n", "@pytest.mark.points(0)\n",
                    "test_scale: points must be a number > 0, got 0"),
    "a misspelt marker": ("@pytest.mark.points(3)\n",
                          "@pytest.mark.hiden\n@pytest.mark.points(3)\n",
                          "'hiden' not found in `markers`"),
    "syntax error": ("def test_add(", "def test_add((", "could not be loaded"),
    # a misspelt prerequisite must not silently disable the "fix ... first" feedback
    "an unknown prerequisite": ("@pytest.mark.points(3)\n",
                                "@pytest.mark.requires('test_ad')\n@pytest.mark.points(3)\n",
                                "test_scale: requires 'test_ad', but no check of 99_fake has "
                                "that name"),
    "a later prerequisite": ("@pytest.mark.points(2)\n",
                             "@pytest.mark.requires('test_scale')\n@pytest.mark.points(2)\n",
                             "test_add: requires 'test_scale', which must be an earlier check"),
}


@pytest.mark.parametrize("broken", list(BROKEN_CHECKS))
def test_a_broken_check_file_is_a_grader_error(broken, tmp_path):
    """Is a check file with a check missing its points (or another bad marker) a grader error:
    exit 2, a message naming the check, and a valid results.json?"""
    old, new, message = BROKEN_CHECKS[broken]
    course = tmp_path / "course.toml"
    shutil.copyfile(FAKE_COURSE, course)
    checks = shutil.copytree(FAKE_CHECKS, tmp_path / "course" / ASSIGNMENT)
    source = (checks / "test_public.py").read_text()
    assert old in source
    (checks / "test_public.py").write_text(source.replace(old, new, 1))
    grading = run_grader(SUBMISSIONS / "correct", tmp_path / "out", ASSIGNMENT, course=course)
    assert grading.returncode == 2, grading.stdout
    assert "GRADER ERROR" in grading.results["output"]
    assert message in grading.results["output"]
    assert grading.results["tests"] == [], "a broken check file lists no checks"
    validate_reports(grading)


def test_results_stay_valid_when_the_grader_is_killed_half_way(tmp_path):
    """When the grader is SIGKILLed during the second check, is results.json valid JSON with
    the first check's credit and the others "did not run", and is its worker gone too?"""
    submission = tmp_path / "sub"
    shutil.copytree(SUBMISSIONS / "slow", submission)
    out = tmp_path / "out"
    start = time.time()
    results = out / "results.json"
    proc = subprocess.Popen(grader_command(submission, out, ASSIGNMENT), cwd=ROOT,
                            env=grader_env(out), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if results.is_file():
                tests = json.loads(results.read_text())["tests"]
                if tests and not tests[0]["output"].startswith(NOT_RUN_PREFIX):
                    break
            assert proc.poll() is None, "the grader ended before it was killed"
            time.sleep(0.05)
        else:
            pytest.fail("the first check never reported")
        time.sleep(0.3)  # well inside scale, which never returns
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        data = json.loads(results.read_text())
        validate_results(data)
        tests = data["tests"]
        assert [t["score"] for t in tests] == [2.0, 0.0, 0.0]
        assert tests[0]["status"] == "passed"
        assert all(t["output"].startswith(NOT_RUN_PREFIX) for t in tests[1:]), tests
        deadline = time.monotonic() + 5
        while worker_processes_since(start) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not worker_processes_since(start), "the worker outlived the killed grader"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pid in worker_processes_since(start):  # only the worker this test started
            os.kill(pid, signal.SIGKILL)


def test_recorded_answers_earn_nothing_in_an_official_grading(tmp_path):
    """Does a table of answers recorded at seed 0 (full marks at that seed) earn nothing in an
    official grading, whose fresh secret seed is recorded in results.json for regrades?"""
    grading = grade_case("recorded_answers", tmp_path, "--official")
    assert grading.returncode == 0, grading.stdout
    assert grading.scores == (0.0, 0.0, 0.0)
    seed = grading.results["extra_data"]["seed"]
    assert seed != 0
    regrade = grade_case("correct", tmp_path / "regrade", "--seed", str(seed))
    assert regrade.results["extra_data"]["seed"] == seed and regrade.scores == (2.0, 3.0, 5.0)


def test_an_exit_code_chosen_by_the_code_does_not_reach_a_hidden_check(tmp_path):
    """When norm ends its process with an exit code computed from its inputs, does the hidden
    check's output stay in fixed words (no code, no number)?"""
    submission = shutil.copytree(SUBMISSIONS / "leaky_names", tmp_path / "submission")
    (submission / ASSIGNMENT / "exit.txt").write_text("exit with the input as the code")
    grading = run_grader(submission, tmp_path / "out", ASSIGNMENT)
    output = grading.tests[HIDDEN_INDEX]["output"]
    assert output.startswith("hidden check failed: the process running your code stopped")
    assert not re.search(r"\d", output), output


def test_hidden_checks_are_shown_to_students_after_the_due_date(graded):
    """Do results carry Gradescope's visibility: visible checks now, hidden ones after the
    due date (so repeated submissions cannot probe them)?"""
    grading = graded("correct")
    assert [t["visibility"] for t in grading.tests] == ["visible", "visible", "after_due_date"]


def _fake_course_where_scale_requires_add(folder):
    """A copy of the fake course whose scale check declares @pytest.mark.requires("test_add")."""
    course = folder / "course.toml"
    shutil.copyfile(FAKE_COURSE, course)
    checks = shutil.copytree(FAKE_CHECKS, folder / "course" / ASSIGNMENT)
    source = (checks / "test_public.py").read_text()
    marker = "@pytest.mark.points(3)\n"
    assert source.count(marker) == 1
    (checks / "test_public.py").write_text(
        source.replace(marker, "@pytest.mark.requires('test_add')\n" + marker))
    return course


@pytest.mark.parametrize(("case", "scores", "fix_first"), [
    ("not_implemented", (0, 0, 0), True),   # add failed: scale's failure says to fix it first
    ("correct", (2, 3, 5), False),          # nothing failed: no prefix, the same points
    ("self_sigterm", (2, 0, 5), False),     # add passed: scale's failure is its own
])
def test_a_check_whose_prerequisite_failed_says_fix_it_first(case, scores, fix_first,
                                                             tmp_path):
    """Does a failing check whose declared prerequisite failed start with "Fix 1.1 <title>
    first", keeping its own message, while scores stay what they are without the marker?"""
    course = _fake_course_where_scale_requires_add(tmp_path)
    grading = run_grader(SUBMISSIONS / case, tmp_path / "out", ASSIGNMENT, course=course)
    assert grading.returncode == 0, grading.stdout
    assert grading.scores == scores
    add, scale = grading.tests[0], grading.tests[1]
    prefix = f'Fix {add["number"]} "{add["name"]}" first: this check builds on it.\n'
    assert scale["output"].startswith(prefix) == fix_first, scale["output"]
    if fix_first:
        assert "not implemented yet: scale() raised NotImplementedError" in scale["output"]
    assert not add["output"].startswith("Fix"), "a check with no prerequisite has no prefix"
    validate_reports(grading)
