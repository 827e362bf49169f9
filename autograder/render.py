"""Renderers of the result model: terminal table, Markdown, JUnit XML, CSV gradebook row."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from autograder.results import Results

# Bytes of UTF-8: GitHub comments stop at 65,536; the margin leaves room for what wraps it.
MARKDOWN_LIMIT = 60_000
_DETAIL_LIMIT = 2000  # the longest output a check records: the report holds every reason whole
_NOTE_LIMIT = 400


def _one_line(text: str, width: int = 90) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= width else line[: width - 1] + "…"


def terminal(results: Results, console: Console) -> None:
    """Per assignment: a table of checks (points, status), then every check's reason in full,
    wrapped to the console's width (nothing is cut); then the totals."""
    style = {"passed": "green", "partial": "yellow", "failed": "red", "not run": "red",
             "instructor": "dim"}
    for assignment in results.assignments():
        checks = results.by_assignment(assignment)
        got, out_of = sum(c.score for c in checks), sum(c.max_score for c in checks)
        table = Table(title=f"{assignment}: {got:g}/{out_of:g}", title_justify="left",
                      expand=False, show_lines=False)
        table.add_column("#", justify="right", no_wrap=True)
        table.add_column("check", overflow="fold")
        table.add_column("points", justify="right", no_wrap=True)
        table.add_column("status", no_wrap=True)
        for c in checks:
            name = escape(c.name) + (" (hidden)" if c.hidden else "")
            table.add_row(c.number, name, f"{c.score:g}/{c.max_score:g}",
                          f"[{style[c.state]}]{c.state}[/]")
        console.print(table)
        reasons = Table.grid(padding=(0, 1))
        reasons.add_column(justify="right", no_wrap=True)
        reasons.add_column(overflow="fold")
        for c in checks:
            if c.output.strip():
                reasons.add_row(Text(c.number, style=style[c.state]), Text(c.output.strip()))
        if reasons.row_count:
            console.print(f"Reasons ({assignment}):", style="bold")
            console.print(reasons)
    percent = 100 * results.score / results.max_score if results.max_score else 0.0
    console.print(f"[bold]Total: {results.score:g}/{results.max_score:g} ({percent:.1f}%)[/]")
    if results.instructor_only_points:
        console.print(f"{results.instructor_only_points:g} of those points come from hidden checks "
                      "graded by your instructor.")
    if results.grader_error:
        console.print(f"[bold red]Grader error (not your fault): {escape(results.grader_error)}[/]")


def markdown(results: Results) -> str:
    """The PR comment and job summary: totals, a table per assignment (passing checks' figures
    and warnings in its notes column), then every failure's full reason in <details>."""
    percent = 100 * results.score / results.max_score if results.max_score else 0.0
    head = [f"## Grade: {results.score:g} / {results.max_score:g} ({percent:.1f}%)", ""]
    if results.instructor_only_points:
        head += [f"{results.instructor_only_points:g} of those points come from hidden checks "
                 "graded by your instructor.", ""]
    if results.grader_error:
        head += [f"> **Grader error (not your fault):** {results.grader_error}", ""]
    body: list[str] = []
    details: list[str] = []
    for assignment in results.assignments():
        checks = results.by_assignment(assignment)
        got, out_of = sum(c.score for c in checks), sum(c.max_score for c in checks)
        body += [f"### {assignment}: {got:g} / {out_of:g}", "",
                 "| # | check | points | status | notes |", "|---|---|---|---|---|"]
        for c in checks:
            name = _escape(c.name) + (" *(hidden)*" if c.hidden else "")
            failed = c.score < c.max_score and c.output and not c.instructor_only
            body.append(f"| {c.number} | {name} | {c.score:g} / {c.max_score:g} "
                        f"| {c.state} | {_note(c.output, failed, c.instructor_only)} |")
            if failed:
                text = c.output if len(c.output) <= _DETAIL_LIMIT else (
                    c.output[:_DETAIL_LIMIT] + "\n… (truncated)")
                details.append(f"<details><summary>{c.number} {_escape(c.name)}</summary>\n\n"
                               f"```\n{text.replace('```', '` ` `')}\n```\n</details>\n")
        body.append("")
    text = "\n".join(head + body)
    if _size(text) > MARKDOWN_LIMIT - 100:  # a table too long for one comment: keep its start
        text = _cut(text, MARKDOWN_LIMIT - 100).rsplit("\n", 1)[0]
        text += "\n\n*(more checks: see results.json)*\n"
        details = []
    if details:
        extra = ["### What to fix", ""]
        room = MARKDOWN_LIMIT - _size(text) - 100
        for index, block in enumerate(details):
            if _size("\n".join(extra + [block])) > room:
                extra.append(f"*({len(details) - index} more failures: see results.json)*\n")
                break
            extra.append(block)
        text += "\n" + "\n".join(extra)
    return text


def _note(output: str, failed: bool, instructor_only: bool) -> str:
    """The notes cell: a passing check's figures and warnings in full, a failure's first line
    (its full reason is under "What to fix")."""
    if instructor_only or not output.strip():
        return ""
    if failed:
        return _escape(_one_line(output, 120)) + " (below)"
    text = output.strip()
    if len(text) > _NOTE_LIMIT:
        text = text[: _NOTE_LIMIT - 1] + "…"
    return "<br>".join(_escape(line) for line in text.splitlines())


def _size(text: str) -> int:
    return len(text.encode("utf-8"))


def _cut(text: str, limit: int) -> str:
    """The longest start of `text` that is at most `limit` bytes of UTF-8."""
    return text.encode("utf-8")[:limit].decode("utf-8", "ignore")


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("<", "&lt;")


def junit(results: Results) -> str:
    """JUnit XML: one testsuite per assignment, failures carry the student-visible output."""
    root = ET.Element("testsuites", name="autograder", tests=str(len(results.tests)))
    for assignment in results.assignments():
        checks = results.by_assignment(assignment)
        failed = [c for c in checks if c.score < c.max_score]
        suite = ET.SubElement(root, "testsuite", name=assignment, tests=str(len(checks)),
                              failures=str(len(failed)))
        for c in checks:
            case = ET.SubElement(suite, "testcase", classname=assignment, name=c.name)
            props = ET.SubElement(case, "properties")
            ET.SubElement(props, "property", name="score", value=f"{c.score:g}")
            ET.SubElement(props, "property", name="max_score", value=f"{c.max_score:g}")
            if c.score < c.max_score:
                failure = ET.SubElement(case, "failure", message=_one_line(c.output, 200))
                failure.text = c.output
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def gradebook_row(results: Results, student: str) -> str:
    """A CSV header and one gradebook row: total, percent and each assignment's score."""
    assignments = results.assignments()
    header = ["student", "commit", "score", "max_score", "percent"] + assignments
    percent = 100 * results.score / results.max_score if results.max_score else 0.0
    row = [student, results.extra_data.get("submission_commit") or "", f"{results.score:g}",
           f"{results.max_score:g}", f"{percent:.2f}"]
    row += [f"{sum(c.score for c in results.by_assignment(a)):g}" for a in assignments]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerow(row)
    return out.getvalue()
