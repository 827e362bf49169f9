"""A ranked leaderboard from many results.json files: a Markdown table and one HTML page.

Each results.json is one row: the student's display name, the values of its `leaderboard`
(Gradescope's `{"name", "value", "order"}` entries), and its total score. Rows are ranked by the
first leaderboard column, ties broken by the next columns, then by name.

Everything read from the files is untrusted text: it is clipped, stripped of control characters
and escaped for the format it lands in, and the HTML page allows only its own inline script and
style (a Content-Security-Policy with their hashes), so a hostile name can neither break the
table nor run code.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import html as html_lib
import json
import math
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from autograder.results import write_report

Value = int | float | str
Order = Literal["asc", "desc"]

MAX_TEXT = 100  # characters of a name, a column name or a text value
MAX_COLUMNS = 20
MAX_FILE_BYTES = 50 * 2**20  # a results.json holds every check's output, but not this much
_ORDERS = ("asc", "desc")
# Whitespace, control characters and bidirectional overrides (which can make a name read as
# something else): each run becomes one space.
_CONTROL = re.compile(r"[\s\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]+")


class LeaderboardError(Exception):
    """A results file cannot be read or its leaderboard is malformed; the message names it."""


@dataclass(frozen=True)
class Entry:
    """One results.json: who, the leaderboard values by column name, and the total score."""

    name: str
    values: dict[str, Value]
    orders: dict[str, Order]
    score: float
    max_score: float | None
    source: Path


# -- reading ---------------------------------------------------------------------------------


def load_entries(paths: list[Path]) -> list[Entry]:
    """One entry per results.json, in the order given.

    A file that is missing, not JSON, or has a malformed leaderboard raises LeaderboardError
    naming it, and no leaderboard is made: the files are the grader's own output, so a bad one
    is a grading problem to fix, and skipping it would silently drop a student from a published
    ranking. Files that disagree on a column's order are refused for the same reason.
    """
    entries = [_entry(Path(path)) for path in paths]
    columns(entries)
    return entries


def _entry(path: Path) -> Entry:
    data = _read_json(path)
    if not isinstance(data, dict):
        raise LeaderboardError(f"{path}: not a results.json (a JSON object is expected)")
    extra = data.get("extra_data", {})
    if not isinstance(extra, dict):
        raise LeaderboardError(f"{path}: extra_data must be an object")
    student = extra.get("student")
    name = _text(student) if isinstance(student, str) else ""
    values, orders = _leaderboard(path, data.get("leaderboard", []))
    max_score = extra.get("max_score")
    return Entry(name=name or _text(path.absolute().parent.name), values=values, orders=orders,
                 score=_number(path, "score", data.get("score")),
                 max_score=None if max_score is None else _number(path, "max_score", max_score),
                 source=path)


def _read_json(path: Path) -> Any:
    try:
        if not path.is_file():  # a folder or a FIFO would fail late or block the read
            raise LeaderboardError(f"{path}: no such results file")
        if path.stat().st_size > MAX_FILE_BYTES:
            raise LeaderboardError(f"{path}: larger than {MAX_FILE_BYTES // 2**20} MiB")
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise LeaderboardError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    except (UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError, or an int too long
        raise LeaderboardError(f"{path}: not valid JSON ({exc})") from None


def _leaderboard(path: Path, board: Any) -> tuple[dict[str, Value], dict[str, Order]]:
    if not isinstance(board, list):
        raise LeaderboardError(f"{path}: leaderboard must be a list")
    if len(board) > MAX_COLUMNS:
        raise LeaderboardError(f"{path}: leaderboard has {len(board)} entries (at most "
                               f"{MAX_COLUMNS})")
    values: dict[str, Value] = {}
    orders: dict[str, Order] = {}
    for i, item in enumerate(board):
        where = f"leaderboard[{i}]"
        if not isinstance(item, dict):
            raise LeaderboardError(f"{path}: {where} must be an object")
        raw_name = item.get("name")
        if not isinstance(raw_name, str) or not _text(raw_name):
            raise LeaderboardError(f"{path}: {where}.name must be a non-empty string")
        name = _text(raw_name)
        if name in values:
            raise LeaderboardError(f"{path}: {where}: column {name!r} appears twice")
        order = item.get("order", "desc")  # Gradescope's default: higher is better
        if order not in _ORDERS:
            raise LeaderboardError(f"{path}: {where}.order must be 'asc' or 'desc', not "
                                   f"{_text(repr(order))}")
        value = item.get("value")
        values[name] = _text(value) if isinstance(value, str) else _number(
            path, f"{where}.value", value)
        orders[name] = order
    return values, orders


def _number(path: Path, where: str, value: Any) -> int | float:
    """A finite JSON number (not a bool, not NaN or infinity, within a float's range)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            if math.isfinite(float(value)):
                return value
        except OverflowError:  # an int with hundreds of digits
            pass
    raise LeaderboardError(f"{path}: {where} must be a finite number, not "
                           f"{_text(repr(value))}")


def _text(text: str) -> str:
    """One line of at most MAX_TEXT characters: each run of whitespace or control characters
    (newlines, ANSI escapes) becomes a space, so no terminal, table row or page breaks."""
    line = _CONTROL.sub(" ", text).strip()
    return line if len(line) <= MAX_TEXT else line[: MAX_TEXT - 1] + "…"


# -- ranking ---------------------------------------------------------------------------------


def columns(entries: Iterable[Entry]) -> list[tuple[str, Order]]:
    """The leaderboard columns in the order they first appear, each with its order.

    Raises LeaderboardError when two files give a column different orders (their ranking
    would be meaningless) or when the files hold more than MAX_COLUMNS columns together.
    """
    found: dict[str, Order] = {}
    for entry in entries:
        for name, order in entry.orders.items():
            if found.setdefault(name, order) != order:
                raise LeaderboardError(f"{entry.source}: column {name!r} is {order!r}, other "
                                       f"files make it {found[name]!r}")
    if len(found) > MAX_COLUMNS:
        raise LeaderboardError(f"the files have {len(found)} leaderboard columns together "
                               f"(at most {MAX_COLUMNS})")
    return list(found.items())


def ranked(entries: list[Entry]) -> list[tuple[int, Entry]]:
    """(rank, entry), best first. Entries equal in every column share a rank ("1, 2, 2, 4")
    and are listed by name; a missing value ranks last in its column, a number before text."""
    cols = columns(entries)

    def compare(a: Entry, b: Entry) -> int:
        for name, order in cols:
            result = _compare_values(a.values.get(name), b.values.get(name), order)
            if result:
                return result
        return 0

    def by_name(entry: Entry) -> tuple[str, str, str]:
        return entry.name.casefold(), entry.name, str(entry.source)

    rows = sorted(sorted(entries, key=by_name), key=functools.cmp_to_key(compare))
    ranks: list[tuple[int, Entry]] = []
    for i, entry in enumerate(rows):
        tied = i > 0 and compare(rows[i - 1], entry) == 0
        ranks.append((ranks[-1][0] if tied else i + 1, entry))
    return ranks


def _compare_values(a: Value | None, b: Value | None, order: Order) -> int:
    """<0 when `a` ranks before `b` in a column of this order."""
    if a is None or b is None:
        return (a is None) - (b is None)
    a_text, b_text = isinstance(a, str), isinstance(b, str)
    if a_text != b_text:  # a number and a text ("N/A") cannot be compared
        return a_text - b_text
    result = (a > b) - (a < b)  # both numbers or both text
    return result if order == "asc" else -result


def _display(value: Value | None) -> str:
    """A value as shown: exact integers, floats to 10 significant digits, text as it is."""
    if value is None or isinstance(value, str):
        return value or ""
    if isinstance(value, int) and abs(value) < 10**15:
        return str(value)
    return f"{value:.10g}"


def _score(entry: Entry) -> str:
    if entry.max_score is None:
        return f"{entry.score:g}"
    return f"{entry.score:g} / {entry.max_score:g}"


def _ranked_by(cols: list[tuple[str, Order]]) -> str:
    better = {"asc": "lower is better", "desc": "higher is better"}
    parts = [f"{name} ({better[order]})" for name, order in cols]
    return "Ranked by " + ", then ".join(parts + ["name"]) + "."


# -- Markdown --------------------------------------------------------------------------------

_MD_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")


def md_escape(text: str) -> str:
    """Text that stays text in a GitHub Markdown table cell: no HTML (entities for `&<>`),
    no code, emphasis, link or cell boundary (backslash before `\\ ` * _ [ ] | ~`), one line."""
    text = "".join(_MD_ENTITIES.get(c, c) for c in _CONTROL.sub(" ", text))
    return _MD_SPECIAL.sub(r"\\\1", text)


def markdown(entries: list[Entry]) -> str:
    """A ranked Markdown table: rank, name, every leaderboard column, score."""
    cols = columns(entries)
    header = ["rank", "name", *(md_escape(name) for name, _ in cols), "score"]
    lines = [_md_row(header), _md_row(["---:", "---", *("---:" for _ in cols), "---:"])]
    for rank, entry in ranked(entries):
        cells = [str(rank), md_escape(entry.name),
                 *(md_escape(_display(entry.values.get(name))) for name, _ in cols),
                 md_escape(_score(entry))]
        lines.append(_md_row(cells))
    return "\n".join(lines + ["", md_escape(_ranked_by(cols)), ""])


def _md_row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


# -- HTML ------------------------------------------------------------------------------------

# Sorting happens in the page: the table arrives ranked, so it reads the same without script.
# Each cell's data-sort holds its sort key (numbers in cells of class "num"); a header's
# data-first says which way its first click sorts (best first for a leaderboard column).
_SCRIPT = """
"use strict";
(() => {
  const table = document.getElementById("board");
  const body = table.tBodies[0];
  const heads = Array.from(table.tHead.rows[0].cells);
  const position = new Map(Array.from(body.rows, (row, i) => [row, i]));
  const compare = (c, d, sign) => {
    const a = c.dataset.sort, b = d.dataset.sort;
    if (a === undefined || b === undefined) return (a === undefined) - (b === undefined);
    const aNum = c.classList.contains("num"), bNum = d.classList.contains("num");
    if (aNum !== bNum) return aNum ? -1 : 1;
    return sign * (aNum ? Number(a) - Number(b) : a.localeCompare(b));
  };
  const sortBy = (th) => {
    const now = th.getAttribute("aria-sort");
    const dir = now === "ascending" ? "descending"
      : now === "descending" ? "ascending" : th.dataset.first;
    const sign = dir === "ascending" ? 1 : -1;
    const i = th.cellIndex;
    const rows = Array.from(body.rows).sort((r, s) =>
      compare(r.cells[i], s.cells[i], sign) || position.get(r) - position.get(s));
    for (const h of heads) h.setAttribute("aria-sort", h === th ? dir : "none");
    body.append(...rows);
  };
  for (const th of heads) th.querySelector("button").addEventListener("click", () => sortBy(th));
})();
"""

_STYLE = """
body { font: 15px/1.4 system-ui, sans-serif; margin: 2rem auto; max-width: 70rem;
       padding: 0 1rem; color: #1b1b1b; }
table { border-collapse: collapse; width: 100%; }
th, td { padding: .35rem .7rem; border-bottom: 1px solid #ddd; text-align: left;
         overflow-wrap: anywhere; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
th button { font: inherit; font-weight: 600; background: none; border: 0; padding: 0;
            cursor: pointer; color: inherit; }
th[aria-sort="ascending"] button::after { content: " \\25B2"; }
th[aria-sort="descending"] button::after { content: " \\25BC"; }
tbody tr:nth-child(even) { background: #f6f6f6; }
caption { caption-side: bottom; text-align: left; padding-top: .6rem; color: #555; }
"""


def _csp_hash(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode()).digest()).decode() + "'"


# Only this page's own script and style may run: hashes, not a nonce, because the page is a
# static file (a nonce is only secret when each response draws a fresh one).
CSP = (f"default-src 'none'; script-src {_csp_hash(_SCRIPT)}; style-src {_csp_hash(_STYLE)}; "
       "base-uri 'none'; form-action 'none'")


def html(entries: list[Entry], title: str) -> str:
    """One self-contained HTML page: the ranked table, sortable by clicking a column header."""
    cols = columns(entries)
    esc = html_lib.escape
    heads = [_th("rank", "ascending", "ascending"), _th("name", "ascending")]
    heads += [_th(name, "ascending" if order == "asc" else "descending") for name, order in cols]
    heads.append(_th("score", "descending"))
    rows = []
    for rank, entry in ranked(entries):
        cells = [_td(rank), _td(entry.name)]
        cells += [_td(entry.values.get(name)) for name, _ in cols]
        cells.append(_td(entry.score, _score(entry)))
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{esc(CSP)}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(_text(title))}</title>
<style>{_STYLE}</style>
</head>
<body>
<h1>{esc(_text(title))}</h1>
<table id="board">
<caption>{esc(_ranked_by(cols))} Click a column header to sort by it.</caption>
<thead><tr>{"".join(heads)}</tr></thead>
<tbody>
{chr(10).join(rows)}
</tbody>
</table>
<script>{_SCRIPT}</script>
</body>
</html>
"""


def _th(label: str, first: str, now: str = "none") -> str:
    return (f'<th scope="col" aria-sort="{now}" data-first="{first}">'
            f'<button type="button">{html_lib.escape(label)}</button></th>')


def _td(value: Value | None, shown: str | None = None) -> str:
    """A cell; its data-sort is the exact value (absent when missing, so it sorts last)."""
    esc = html_lib.escape
    if value is None:
        return "<td></td>"
    if isinstance(value, str):
        return f'<td data-sort="{esc(value)}">{esc(value)}</td>'
    text = _display(value) if shown is None else shown
    return f'<td class="num" data-sort="{float(value)!r}">{esc(text)}</td>'


# -- command line ----------------------------------------------------------------------------


def main(paths: list[str], out_dir: str, title: str) -> int:
    """Write leaderboard.md and leaderboard.html into `out_dir`: 0, or 2 with a one-line error.

    Each path is a results.json or a folder holding one.
    """
    files = [Path(p) / "results.json" if Path(p).is_dir() else Path(p) for p in paths]
    try:
        if not files:
            raise LeaderboardError("no results files given")
        entries = load_entries(files)
        out = Path(out_dir)
        write_report(out / "leaderboard.md", f"# {md_escape(_text(title))}\n\n"
                     + markdown(entries))
        write_report(out / "leaderboard.html", html(entries, title))
    except (LeaderboardError, OSError) as exc:
        reason = exc if isinstance(exc, LeaderboardError) else f"cannot write to {out_dir}: {exc}"
        print(_CONTROL.sub(" ", f"leaderboard failed: {reason}"), file=sys.stderr)  # one line
        return 2
    print(f"Leaderboard of {len(entries)} submission(s) in {out}/ "
          "(leaderboard.md, leaderboard.html)")
    return 0
