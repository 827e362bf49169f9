"""Unit tests of the grader's pieces: the failure messages, the renderers of the result model
and the atomic write of results.json (the wire format: test_codec.py). No subprocess here."""

from __future__ import annotations

import csv
import io
import json
import os
import threading
import time
import xml.etree.ElementTree as ET

import pytest
from rich.console import Console

from autograder import render, results
from autograder.checks import CheckFailed
from autograder.plugin import PartialScore, _failure_message, _printable
from autograder.proxy import StudentCrash, StudentError
from autograder.results import NOT_RUN, CheckResult, Results

# -- failure messages ------------------------------------------------------------------------


def _student_error(message: str = "input was [[0.123, 4.56]]") -> StudentError:
    return StudentError("norm()", {"type": "ValueError", "mro": ["ValueError", "Exception"],
                                   "message": message, "where": "fake.py:3 in norm"})


def test_hidden_failures_show_only_fixed_words_or_the_hint():
    """Does a hidden check show the hint or fixed words, never anything the student's code
    chose: its message, exception class name, exit code or output?"""
    crash = StudentCrash("the worker process running norm() exited with code 3",
                         "input was [[0.123, 4.56]]")
    failed = CheckFailed("norm(x (4, 3)): expected 0.123, got 4.56", hint="take the sqrt")
    assert _failure_message(_student_error(), True, 10) == (
        "hidden check failed: your code raised an exception.")
    assert _failure_message(failed, True, 10) == "hidden check failed. Hint: take the sqrt"
    assert _failure_message(crash, True, 10) == (
        "hidden check failed: the process running your code stopped (a crash, sys.exit or too "
        "much memory).")
    assert _failure_message(KeyError("0.123"), True, 10) == "hidden check failed."
    assert "0.123" in _failure_message(crash, False, 10)  # visible: the output tail helps


def test_visible_failures_say_what_was_expected_and_got():
    """Does a visible check show the student's exception with its place, and a check's full
    message with its hint?"""
    failed = CheckFailed("add: expected 1, got 2", hint="add, do not subtract")
    assert _failure_message(failed, False, 10) == (
        "add: expected 1, got 2\nHint: add, do not subtract")
    assert _failure_message(_student_error("bad"), False, 10) == (
        "norm() raised ValueError: bad (at fake.py:3 in norm)")


def test_a_diagnosis_comes_first_and_hidden_checks_show_it_without_the_inputs():
    """Does a check's diagnosis (the bug its result matches, fixed words) come first in a
    visible failure, and appear with the hint, not the message, in a hidden one?"""
    failed = CheckFailed("norm(x (4, 3)): expected 0.123, got 4.56", hint="take the sqrt",
                         diagnosis="Your norm equals the sum of squares.")
    assert _failure_message(failed, False, 10) == (
        "Your norm equals the sum of squares.\nnorm(x (4, 3)): expected 0.123, got 4.56\n"
        "Hint: take the sqrt")
    assert _failure_message(failed, True, 10) == (
        "hidden check failed. Your norm equals the sum of squares. Hint: take the sqrt")


def test_printable_removes_what_breaks_reports_and_keeps_the_text():
    """Are ANSI codes, control characters and lone surrogates removed, tabs and newlines and
    Rich-markup-like text kept?"""
    text = "[/bold] \x1b[31mred\x1b[0m\tnul\x00 bs\x08 cr\r\nsur\ud800 end"
    assert _printable(text) == "[/bold] red\tnul bs cr\nsur? end"


@pytest.mark.parametrize("fraction", [-0.1, 1.01, float("nan")])
def test_partial_score_refuses_a_fraction_outside_0_1(fraction):
    """Does score.set refuse a fraction below 0, above 1 or NaN, naming it?"""
    with pytest.raises(ValueError, match="fraction must be in"):
        PartialScore().set(fraction)


# -- renderers -------------------------------------------------------------------------------


def _results(count: int, *, name_length: int = 40, output_lines: int = 3) -> Results:
    res = Results(extra_data={"submission_commit": "0" * 40})
    for i in range(count):
        assignment = f"0{i % 3 + 1}_assignment"
        res.tests.append(CheckResult(
            assignment=assignment, name=f"check {i:03d} " + "x" * name_length,
            number=f"{i % 3 + 1}.{i}", max_score=2.0, hidden=i % 5 == 0,
            score=1.0 if i % 2 else 0.0, status="failed",
            output="\n".join(f"line {j} of a long failure message" for j in range(output_lines)),
            reported=True))
    return res


@pytest.mark.parametrize("name_length", [40, 120])
def test_markdown_stays_under_the_comment_limit_with_500_failing_checks(name_length):
    """With 500 failing checks with long outputs (and long names), is report.md under 60,000
    characters, still starting with the grade and pointing to results.json for the rest?"""
    text = render.markdown(_results(500, name_length=name_length, output_lines=400))
    assert len(text) <= render.MARKDOWN_LIMIT
    assert len(text.encode("utf-8")) < 65_536  # GitHub's limit of a comment
    assert text.startswith("## Grade: 250 / 1000 (25.0%)")
    assert "see results.json" in text
    assert text.count("<details>") == text.count("</details>")


def test_markdown_shows_every_failure_in_full_when_it_fits():
    """With a few failures, does report.md list every check and show each failure's output?"""
    res = _results(4)
    res.tests[1].output = "has | a pipe and ``` a fence"
    text = render.markdown(res)
    assert text.count("<details>") == 4 and "see results.json" not in text
    assert "` ` `" in text and "```\nhas | a pipe" in text
    assert "| 2.1 | check 001" in text


def test_junit_parses_and_counts_checks_failures_and_points():
    """Does junit.xml parse, with one testsuite per assignment, one testcase per check, a
    failure for each check short of full marks, and the points as properties?"""
    res = _results(9)
    res.tests[0].output = 'needs <escaping> & "quotes" ]]> too'
    res.tests[2].score, res.tests[2].status = 2.0, "passed"
    root = ET.fromstring(render.junit(res))
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["01_assignment", "02_assignment", "03_assignment"]
    assert root.get("tests") == "9" and len(root.findall("./testsuite/testcase")) == 9
    assert sum(int(s.get("failures")) for s in suites) == 8
    first = root.find("./testsuite/testcase")
    assert first.find("failure").text == 'needs <escaping> & "quotes" ]]> too'
    props = {p.get("name"): p.get("value") for p in first.iter("property")}
    assert props == {"score": "0", "max_score": "2"}


def test_gradebook_has_a_header_and_one_row():
    """Is gradebook.csv a header and exactly one row, quoted where the student name needs it?"""
    res = _results(6)
    rows = list(csv.reader(io.StringIO(render.gradebook_row(res, 'doe, "jane"'))))
    assert rows == [
        ["student", "commit", "score", "max_score", "percent",
         "01_assignment", "02_assignment", "03_assignment"],
        ['doe, "jane"', "0" * 40, "3", "12", "25.00", "1", "1", "1"],
    ]


def test_terminal_prints_markup_like_text_literally():
    """Does the terminal table print check names and outputs that look like Rich markup as
    they are, without raising?"""
    res = _results(2)
    res.tests[0].name = "x[i] and [bold]"
    res.tests[0].output = "[/bold] closing tag [red]x[/red]"
    res.grader_error = "[/] also here"
    console = Console(file=io.StringIO(), width=200, color_system=None)
    render.terminal(res, console)
    printed = console.file.getvalue()
    assert "x[i] and [bold]" in printed and "[/bold] closing tag [red]x[/red]" in printed
    assert "[/] also here" in printed


# -- results.json ----------------------------------------------------------------------------


def test_results_json_has_the_total_and_tags(tmp_path):
    """Is the total the sum of the checks, hidden checks tagged, and a grader error named in
    the output?"""
    res = _results(3)
    res.grader_error = "broken check"
    res.write(tmp_path / "results.json")
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["score"] == 1.0 and data["extra_data"]["max_score"] == 6.0
    assert [t["tags"] for t in data["tests"]] == [
        ["01_assignment", "hidden"], ["02_assignment"], ["03_assignment"]]
    assert "GRADER ERROR (not the student's fault): broken check" in data["output"]
    assert CheckResult("a", "n", "1.1", 1.0).to_dict()["output"] == NOT_RUN


def test_a_failed_write_keeps_the_previous_results_and_no_temporary_file(tmp_path, monkeypatch):
    """When writing results.json fails half-way, is the previous file intact and no temporary
    file left behind?"""
    path = tmp_path / "results.json"
    _results(3).write(path)
    before = path.read_bytes()

    real_fdopen = os.fdopen

    class HalfThenFail:
        """A file that writes the first half of what it is given, then fails."""

        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def write(self, text):
            self.f.write(text[: len(text) // 2])
            raise OSError("disk full")

    monkeypatch.setattr(results.os, "fdopen", lambda *a, **k: HalfThenFail(real_fdopen(*a, **k)))
    with pytest.raises(OSError, match="disk full"):
        _results(5).write(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]


def test_a_reader_never_sees_a_half_written_results_json(tmp_path):
    """While results.json is rewritten 50 times, does a concurrent reader always parse it?"""
    path = tmp_path / "results.json"
    big = _results(100, output_lines=10)
    big.write(path)
    errors: list[str] = []
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            try:
                json.loads(path.read_text())
            except (ValueError, OSError) as exc:
                errors.append(repr(exc))
            time.sleep(0)  # let the writer run

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for i in range(50):
            big.tests[0].score = i % 2
            big.write(path)
    finally:
        done.set()
        reader.join()
    assert errors == []
