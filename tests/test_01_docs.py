"""Does the README of 01_kernel_convolution state the checks and points the grader uses?"""

from __future__ import annotations

import re
from pathlib import Path

from course_checks import check_table

ROOT = Path(__file__).resolve().parent.parent
ASSIGNMENT = "01_kernel_convolution"
README = ROOT / "solutions" / ASSIGNMENT / "README.md"
ROW = re.compile(r"^\| (\d+) \| (.+?) \| (\d+) \|(.*)\|$")


def test_readme_table_lists_every_check_with_its_points():
    """Does the README's grading table match the checks' titles, points and visibility?"""
    rows = [ROW.match(line) for line in README.read_text(encoding="utf-8").splitlines()]
    table = [(m[2], int(m[3]), "hidden" in m[4]) for m in rows if m]
    assert table == [(title, points, hidden)
                     for _, title, points, hidden in check_table(ASSIGNMENT)]
    assert sum(points for _, points, _ in table) == 100
