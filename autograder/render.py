"""Renderers of the result model: terminal table, Markdown, JUnit XML, CSV gradebook row."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from autograder.results import Results

MARKDOWN_LIMIT = 60_000  # GitHub comments stop at 65,536 characters
_DETAIL_LIMIT = 1500


def _one_line(text: str, width: int = 90) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= width else line[: width - 1] + "…"


def terminal(results: Results, console: Console) -> None:
    """Per assignment, per check: points, status and a one-line reason; then totals."""
    style = {"passed": "green", "partial": "yellow", "failed": "red", "not run": "red",
             "instructor": "dim"}
    for assignment in results.assignments():
        checks = results.by_assignment(assignment)
        got, out_of = sum(c.score for c in checks), sum(c.max_score for c in checks)
        table = Table(title=f"{assignment}: {got:g}/{out_of:g}", title_justify="left",
                      expand=False, show_lines=False)
        table.add_column("#", justify="right")
        table.add_column("check")
        table.add_column("points", justify="right")
        table.add_column("status")
        table.add_column("reason", overflow="fold")
        for c in checks:
            word = c.state
            name = escape(c.name) + (" (hidden)" if c.hidden else "")
            table.add_row(c.number, name, f"{c.score:g}/{c.max_score:g}",
                          f"[{style[word]}]{word}[/]", escape(_one_line(c.output)))
        console.print(table)
    percent = 100 * results.score / results.max_score if results.max_score else 0.0
    console.print(f"[bold]Total: {results.score:g}/{results.max_score:g} ({percent:.1f}%)[/]")
    if results.instructor_only_points:
        console.print(f"{results.instructor_only_points:g} of those points come from hidden checks "
                      "graded by your instructor.")
    if results.grader_error:
        console.print(f"[bold red]Grader error (not your fault): {escape(results.grader_error)}[/]")


def markdown(results: Results) -> str:
    """The PR comment and job summary: totals, a table per assignment, failures in <details>."""
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
                 "| # | check | points | status |", "|---|---|---|---|"]
        for c in checks:
            name = _escape(c.name) + (" *(hidden)*" if c.hidden else "")
            body.append(f"| {c.number} | {name} | {c.score:g} / {c.max_score:g} "
                        f"| {c.state} |")
            if c.score < c.max_score and c.output and not c.instructor_only:
                text = c.output if len(c.output) <= _DETAIL_LIMIT else (
                    c.output[:_DETAIL_LIMIT] + "\n… (truncated)")
                details.append(f"<details><summary>{c.number} {_escape(c.name)}</summary>\n\n"
                               f"```\n{text.replace('```', '` ` `')}\n```\n</details>\n")
        body.append("")
    text = "\n".join(head + body)
    if len(text) > MARKDOWN_LIMIT - 100:  # a table too long for one comment: keep its start
        text = text[: MARKDOWN_LIMIT - 100].rsplit("\n", 1)[0]
        text += "\n\n*(more checks: see results.json)*\n"
        details = []
    if details:
        extra = "\n".join(["### What to fix", ""] + details)
        if len(text) + len(extra) > MARKDOWN_LIMIT:
            extra = extra[: MARKDOWN_LIMIT - len(text) - 80].rsplit("<details>", 1)[0]
            extra += "\n*(more failures: see results.json)*\n"
        text += "\n" + extra
    return text


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
