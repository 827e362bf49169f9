"""Tests of the leaderboard (autograder/leaderboard.py): reading results.json files, ranking,
the Markdown table, the HTML page, and the page itself in a headless Chromium."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import subprocess
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest

from autograder import leaderboard
from autograder.leaderboard import LeaderboardError, load_entries

CHROMIUM = Path("/usr/bin/chromium")
HOSTILE = "zoe\"><img src=x onerror=\"document.title='pwned'\">"
NAMES = ["<script>document.title='pwned'</script>", "pipe | in | name", "tick ` code `",
         "two\nlines\r\nhere", "x" * 5000, "Zoë 李 😀", "**bold** [link](http://e.x) &amp;",
         "back\\slash|", "rtl \u202egnp.exe"]


def _board(acc: float, params: int, ms: float) -> list[dict]:
    return [{"name": "Accuracy", "value": acc, "order": "desc"},
            {"name": "Parameters", "value": params, "order": "asc"},
            {"name": "ms per image", "value": ms, "order": "asc"}]


def _write(root: Path, folder: str, *, board=None, student=None, score=8.0, raw=None) -> Path:
    """A results.json in root/folder, as the grader writes it, or with `raw` as its text."""
    path = root / folder / "results.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    extra = {"max_score": 10.0, "submission_commit": "0" * 40}
    if student is not None:
        extra["student"] = student
    data = {"score": score, "execution_time": 1.0, "output": "", "tests": [],
            "leaderboard": board if board is not None else [], "extra_data": extra}
    if isinstance(raw, bytes):
        path.write_bytes(raw)
    else:
        path.write_text(raw if raw is not None else json.dumps(data), encoding="utf-8")
    return path


@pytest.fixture
def cohort(tmp_path: Path) -> list[Path]:
    """Five students: bob and dave tie in every column, carol ties them on the first two,
    and the worst one has a name that is markup."""
    return [_write(tmp_path, "s1", board=_board(0.95, 900_000, 10), student="alice"),
            _write(tmp_path, "s2", board=_board(0.93, 800_000, 100), student="carol"),
            _write(tmp_path, "s3", board=_board(0.93, 800_000, 9.5), student="dave"),
            _write(tmp_path, "bob", board=_board(0.93, 800_000, 9.5), score=7),
            _write(tmp_path, "s5", board=_board(0.5, 10, 1), student=HOSTILE)]


# -- reading and ranking ---------------------------------------------------------------------


def test_ranked_by_first_column_then_next_then_name_with_shared_ranks(cohort):
    """Are rows ranked by Accuracy (higher first), then Parameters and ms (lower first), then
    name, with rows equal in every column sharing a rank ("1, 2, 2, 4")?"""
    ranks = [(rank, e.name) for rank, e in leaderboard.ranked(load_entries(cohort))]
    assert ranks == [(1, "alice"), (2, "bob"), (2, "dave"), (4, "carol"), (5, HOSTILE)]


def test_an_entry_holds_name_values_orders_and_scores(cohort):
    """Does an entry keep the leaderboard values by column, their orders and both scores, and
    fall back to the folder name when extra_data has no student?"""
    bob = load_entries(cohort)[3]
    assert bob.name == "bob"
    assert bob.values == {"Accuracy": 0.93, "Parameters": 800_000, "ms per image": 9.5}
    assert bob.orders == {"Accuracy": "desc", "Parameters": "asc", "ms per image": "asc"}
    assert (bob.score, bob.max_score, bob.source) == (7, 10.0, cohort[3])


def test_a_score_without_max_score_is_shown_alone(tmp_path):
    """Is a results.json without extra_data.max_score (another grader's) read, its score shown
    without a maximum?"""
    path = _write(tmp_path, "s", raw='{"score": 7.5, "leaderboard": []}')
    entry = load_entries([path])[0]
    assert (entry.name, entry.score, entry.max_score) == ("s", 7.5, None)
    assert leaderboard.markdown([entry]).splitlines()[2] == "| 1 | s | 7.5 |"


@pytest.mark.parametrize("student", ["", "   ", None, 42, ["x"], "\n\t"])
def test_display_name_is_the_folder_unless_student_is_a_nonempty_string(tmp_path, student):
    """Is the folder name shown when "student" is absent, empty, blank or not a string?"""
    path = _write(tmp_path, "team-7", board=_board(0.9, 1, 1), student=student)
    assert load_entries([path])[0].name == "team-7"


def test_missing_values_rank_last_and_numbers_before_text(tmp_path):
    """Does a row without a value for a column rank after every row that has one, whatever the
    column's order, and does a text value ("N/A") rank after numbers?"""
    paths = [_write(tmp_path, "none", board=[]),
             _write(tmp_path, "text", board=[{"name": "Loss", "value": "N/A", "order": "asc"}]),
             _write(tmp_path, "high", board=[{"name": "Loss", "value": 2.5, "order": "asc"}]),
             _write(tmp_path, "low", board=[{"name": "Loss", "value": 0.5, "order": "asc"}])]
    assert [e.name for _, e in leaderboard.ranked(load_entries(paths))] == [
        "low", "high", "text", "none"]


def test_missing_order_means_higher_is_better(tmp_path):
    """Does an entry without "order" rank higher values first, as Gradescope's default does?"""
    paths = [_write(tmp_path, name, board=[{"name": "Accuracy", "value": value}])
             for name, value in [("a", 0.1), ("b", 0.9)]]
    assert [e.name for _, e in leaderboard.ranked(load_entries(paths))] == ["b", "a"]


@pytest.mark.parametrize(("raw", "board", "message"), [
    (None, None, "no such results file"),
    ("{not json", None, "not valid JSON"),
    (b"\xff\xfe{}", None, "not valid JSON"),
    ("[1, 2]", None, "a JSON object is expected"),
    ('{"score": 1, "leaderboard": [], "extra_data": []}', None, "extra_data must be an object"),
    ('{"leaderboard": []}', None, "score must be a finite number"),
    ('{"score": NaN, "leaderboard": []}', None, "score must be a finite number"),
    ('{"score": 1, "leaderboard": {"name": "x"}}', None, "leaderboard must be a list"),
    ('{"score": 1, "leaderboard": [{"name": "A", "value": NaN}]}', None, "finite number"),
    ('{"score": 1, "leaderboard": [{"name": "A", "value": 1e400}]}', None, "finite number"),
    ('{"score": 1, "leaderboard": [{"name": "A", "value": -Infinity}]}', None, "finite number"),
    ('{"score": 1, "leaderboard": [{"name": "A", "value": 1' + "0" * 400 + "}]}", None,
     "finite number"),
    (None, ["Accuracy"], r"leaderboard\[0\] must be an object"),
    (None, [{"name": 3, "value": 1}], r"leaderboard\[0\]\.name must be a non-empty string"),
    (None, [{"name": "\n", "value": 1}], "must be a non-empty string"),
    (None, [{"name": "A", "value": True}], r"leaderboard\[0\]\.value must be a finite number"),
    (None, [{"name": "A", "value": None}], "must be a finite number, not None"),
    (None, [{"name": "A", "value": [1]}], "must be a finite number"),
    (None, [{"name": "A", "value": 1, "order": "up"}], "order must be 'asc' or 'desc'"),
    (None, [{"name": "A", "value": 1, "order": None}], "order must be 'asc' or 'desc'"),
    (None, [{"name": "A", "value": 1}, {"name": "A", "value": 2}], "appears twice"),
    (None, [{"name": f"c{i}", "value": i} for i in range(21)], "at most 20"),
])
def test_a_malformed_file_is_refused_naming_it(tmp_path, raw, board, message):
    """Is a missing, non-JSON or malformed file (NaN, infinity, wrong types, unknown order,
    duplicate or too many columns) refused with an error that names the file?"""
    good = _write(tmp_path, "good", board=_board(0.9, 1, 1))
    if raw is None and board is None:
        bad = tmp_path / "gone" / "results.json"
    else:
        bad = _write(tmp_path, "bad", board=board, raw=raw)
    with pytest.raises(LeaderboardError, match=message) as info:
        load_entries([good, bad])
    assert str(info.value).startswith(str(bad))


def test_a_folder_or_huge_file_is_refused(tmp_path, monkeypatch):
    """Is a folder given as a results file, or a file over the size cap, refused by name?"""
    with pytest.raises(LeaderboardError, match="no such results file"):
        load_entries([tmp_path])
    monkeypatch.setattr(leaderboard, "MAX_FILE_BYTES", 10)
    with pytest.raises(LeaderboardError, match="larger than"):
        load_entries([_write(tmp_path, "big", board=[])])


def test_files_that_disagree_on_a_column_order_are_refused(tmp_path):
    """Is a column that one file ranks "asc" and another "desc" refused, naming the second?"""
    first = _write(tmp_path, "a", board=[{"name": "Loss", "value": 1, "order": "asc"}])
    second = _write(tmp_path, "b", board=[{"name": "Loss", "value": 2, "order": "desc"}])
    with pytest.raises(LeaderboardError, match="'Loss' is 'desc', other files make it 'asc'"):
        load_entries([first, second])


def test_hostile_text_is_clipped_to_one_short_line(tmp_path):
    """Are names and text values cut to 100 characters and made one line (control characters
    and bidirectional overrides become spaces), with other Unicode kept?"""
    paths = [_write(tmp_path, f"s{i}", board=[{"name": name, "value": name}], student=name)
             for i, name in enumerate(NAMES)]
    entries = load_entries(paths)
    by_name = {e.name: e for e in entries}
    assert "two lines here" in by_name
    assert "Zoë 李 😀" in by_name
    assert "rtl gnp.exe" in by_name
    long = "x" * 99 + "…"
    assert by_name[long].values == {long: long}
    for entry in entries:
        assert len(entry.name) <= 100
        assert not re.search(r"[\x00-\x1f\u202e]", entry.name)


# -- Markdown --------------------------------------------------------------------------------


def _md_cells(row: str) -> list[str]:
    """A Markdown table row split at its unescaped pipes."""
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", row)[1:-1]]


def test_markdown_is_a_ranked_table_with_every_column(cohort):
    """Does the Markdown table have rank, name, every column and the score, best first?"""
    lines = leaderboard.markdown(load_entries(cohort)).splitlines()
    assert _md_cells(lines[0]) == ["rank", "name", "Accuracy", "Parameters", "ms per image",
                                   "score"]
    assert _md_cells(lines[2]) == ["1", "alice", "0.95", "900000", "10", "8 / 10"]
    assert _md_cells(lines[3])[:2] == ["2", "bob"]
    assert _md_cells(lines[4])[:2] == ["2", "dave"]
    assert _md_cells(lines[5])[0] == "4"
    assert "Ranked by Accuracy (higher is better), then Parameters (lower is better)" in lines[-1]


def test_markdown_escapes_every_cell(tmp_path):
    """Can no name or column name add a cell, a row, HTML, code or a link to the table?"""
    paths = [_write(tmp_path, f"s{i}", board=[{"name": name, "value": name}], student=name)
             for i, name in enumerate(NAMES[:4])]  # four distinct columns, each a hostile name
    text = leaderboard.markdown(load_entries(paths))
    rows = text.split("\n\n")[0].splitlines()
    assert len(rows) == 2 + 4
    assert {len(_md_cells(row)) for row in rows} == {2 + 4 + 1}
    assert "<" not in text and ">" not in text
    assert not re.search(r"(?<!\\)[`\[\]*]", text)
    assert r"&lt;script&gt;document.title='pwned'&lt;/script&gt;" in text
    assert r"pipe \| in \| name" in text and r"tick \` code \`" in text
    assert leaderboard.md_escape("**b** [l](u) a\\|b &amp;") == (
        r"\*\*b\*\* \[l\](u) a\\\|b &amp;amp;")


# -- HTML ------------------------------------------------------------------------------------


class Page(HTMLParser):
    """The parts of a leaderboard page the tests look at."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attributes: set[str] = set()
        self.heads: list[str] = []
        self.aria: list[str | None] = []
        self.rows: list[list[str]] = []
        self.scripts: list[str] = []
        self.styles: list[str] = []
        self.csp = ""
        self.title = ""
        self.body: dict[str, str | None] = {}
        self._in: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        self.attributes.update(attrs)
        if tag == "meta" and attrs.get("http-equiv") == "Content-Security-Policy":
            self.csp = attrs["content"]
        if tag == "body":
            self.body = attrs
        if tag == "th":
            self.heads.append("")
            self.aria.append(attrs.get("aria-sort"))
        if tag == "tr" and "tbody" in self._in:
            self.rows.append([])
        if tag == "td":
            self.rows[-1].append("")
        if tag in ("script", "style"):
            (self.scripts if tag == "script" else self.styles).append("")
        if tag not in ("meta", "br", "img", "input", "link"):
            self._in.append(tag)

    def handle_endtag(self, tag):
        if tag in self._in:
            del self._in[len(self._in) - 1 - self._in[::-1].index(tag):]

    def handle_data(self, data):
        where = self._in[-1] if self._in else ""
        if "td" in self._in:
            self.rows[-1][-1] += data
        elif "th" in self._in:
            self.heads[-1] += data
        elif where == "script":
            self.scripts[-1] += data
        elif where == "style":
            self.styles[-1] += data
        elif where == "title":
            self.title += data


def _sha256(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode()).digest()).decode() + "'"


def test_html_page_is_the_ranked_table(cohort):
    """Does the page hold one table with a header per column and the rows in rank order, the
    rank header marked as the sorted one?"""
    page = Page(leaderboard.html(load_entries(cohort), "CIFAR-10 challenge"))
    assert page.title == "CIFAR-10 challenge"
    assert page.heads == ["rank", "name", "Accuracy", "Parameters", "ms per image", "score"]
    assert page.aria == ["ascending", "none", "none", "none", "none", "none"]
    assert [row[:2] for row in page.rows] == [["1", "alice"], ["2", "bob"], ["2", "dave"],
                                              ["4", "carol"], ["5", HOSTILE]]
    assert page.rows[0][2:] == ["0.95", "900000", "10", "8 / 10"]


def test_html_escapes_everything_from_the_files(tmp_path):
    """Do hostile names, column names, values and the title render as text: no element, no
    attribute and no script from the data, and every name found back in its cell?"""
    names = [*NAMES, HOSTILE, "\"' onmouseover=alert(1) x='"]
    paths = [_write(tmp_path, f"s{i}", board=[{"name": name[:90] + str(i), "value": name}],
                    student=name) for i, name in enumerate(names)]
    entries = load_entries(paths)
    text = leaderboard.html(entries, "<script>alert(1)</script>")
    page = Page(text)
    assert sorted(set(page.tags)) == sorted({"html", "head", "meta", "title", "style", "body",
                                             "h1", "table", "caption", "thead", "tr", "th",
                                             "button", "tbody", "td", "script"})
    assert page.tags.count("script") == 1
    assert page.attributes <= {"lang", "charset", "http-equiv", "content", "name", "id", "class",
                               "scope", "aria-sort", "data-first", "type", "data-sort"}
    assert "<script" not in text.split("<script>")[0] + text.split("</script>")[1]
    assert "<img" not in text
    assert page.title == "<script>alert(1)</script>"
    assert sorted(row[1] for row in page.rows) == sorted(e.name for e in entries)
    assert set(page.heads[2:-1]) == {name for e in entries for name in e.values}


def test_html_csp_allows_only_the_page_own_script_and_style(cohort):
    """Is there a CSP meta tag, before any script or style, that allows nothing external and
    only the hashes of the page's own inline script and style?"""
    text = leaderboard.html(load_entries(cohort), "t")
    page = Page(text)
    assert text.index("Content-Security-Policy") < text.index("<style")
    assert page.csp == (f"default-src 'none'; script-src {_sha256(page.scripts[0])}; "
                        f"style-src {_sha256(page.styles[0])}; base-uri 'none'; "
                        "form-action 'none'")
    assert not page.attributes & {"src", "href"}  # no external asset, no link


# -- command line ----------------------------------------------------------------------------


def test_main_writes_both_reports(cohort, tmp_path, capsys):
    """Does main write leaderboard.md and leaderboard.html (taking folders or files), leave no
    temporary file, and return 0?"""
    out = tmp_path / "out"
    args = [str(cohort[0].parent), *map(str, cohort[1:])]
    assert leaderboard.main(args, str(out), "CIFAR | <b>") == 0
    assert sorted(p.name for p in out.iterdir()) == ["leaderboard.html", "leaderboard.md"]
    assert (out / "leaderboard.md").read_text().startswith("# CIFAR \\| &lt;b&gt;\n\n| rank |")
    assert Page((out / "leaderboard.html").read_text()).rows[0][1] == "alice"
    assert "5 submission(s)" in capsys.readouterr().out


def test_main_reports_a_bad_file_in_one_line_and_keeps_the_old_reports(cohort, tmp_path,
                                                                       capsys):
    """Does a malformed file make main return 2 with one line naming it, the reports already
    there left as they were?"""
    out = tmp_path / "out"
    assert leaderboard.main([str(p) for p in cohort], str(out), "t") == 0
    before = (out / "leaderboard.html").read_text()
    bad = _write(tmp_path, "bad\nname", raw='{"score": 1, "leaderboard": [{"name": 1}]}')
    capsys.readouterr()
    assert leaderboard.main([*map(str, cohort), str(bad)], str(out), "t") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "leaderboard failed:" in err and "bad name" in err
    assert (out / "leaderboard.html").read_text() == before
    assert leaderboard.main([], str(out), "t") == 2
    assert "no results files given" in capsys.readouterr().err


def test_main_reports_an_output_folder_it_cannot_write(cohort, tmp_path, capsys):
    """Does main return 2 with one line when the output folder is a file?"""
    (tmp_path / "file").write_text("")
    assert leaderboard.main([str(cohort[0])], str(tmp_path / "file"), "t") == 2
    assert "cannot write to" in capsys.readouterr().err


# -- the page in a real browser --------------------------------------------------------------

# Skipped where Chromium is not installed, except in CI (AUTOGRADER_REQUIRE_BROWSER=1), where
# `apt-get install -y chromium` puts it at /usr/bin/chromium and a skip would hide a broken page.
needs_chromium = pytest.mark.skipif(
    not CHROMIUM.is_file() and os.environ.get("AUTOGRADER_REQUIRE_BROWSER") != "1",
    reason=f"{CHROMIUM} is absent (install it with: apt-get install -y chromium)")

# Run after the page's own script: sorts by clicking headers and records what the rows and
# headers became in <body data-probe>, which --dump-dom prints.
PROBE = """
const names = () => Array.from(document.querySelectorAll("#board tbody tr"),
                               (row) => row.cells[1].textContent);
const heads = Array.from(document.querySelectorAll("#board thead th"));
const click = (label) => heads.find((th) => th.textContent === label)
                               .querySelector("button").click();
const probe = {initial: names()};
click("ms per image"); probe.msFirst = names();
probe.ariaMs = heads.map((th) => th.getAttribute("aria-sort"));
click("ms per image"); probe.msSecond = names();
probe.ariaMsSecond = heads[4].getAttribute("aria-sort");
click("name"); probe.name = names();
click("Accuracy"); probe.accuracy = names();
probe.title = document.title;
probe.unhashedRan = window.unhashedRan === true;
document.body.dataset.probe = JSON.stringify(probe);
"""
UNHASHED = "window.unhashedRan = true; document.title = 'pwned';"


def _dump_dom(page: Path, tmp_path: Path) -> str:
    """The DOM of `page` after its scripts ran, as headless Chromium prints it."""
    command = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--no-first-run", "--disable-dev-shm-usage",
               f"--user-data-dir={tmp_path / 'chromium-profile'}", "--dump-dom",
               "--virtual-time-budget=2000", page.as_uri()]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@needs_chromium
def test_chromium_renders_the_page_and_no_hostile_name_runs(cohort, tmp_path):
    """Does Chromium render the table in rank order, with the hostile name as text and its
    onerror handler never run?"""
    page = tmp_path / "leaderboard.html"
    page.write_text(leaderboard.html(load_entries(cohort), "CIFAR-10 challenge"))
    start = time.perf_counter()
    dom = Page(_dump_dom(page, tmp_path))
    assert time.perf_counter() - start < 20
    assert dom.title == "CIFAR-10 challenge"  # the onerror handler would have set "pwned"
    assert "img" not in dom.tags
    assert [row[1] for row in dom.rows] == ["alice", "bob", "dave", "carol", HOSTILE]


@needs_chromium
def test_chromium_sorts_by_a_clicked_header_and_blocks_other_scripts(cohort, tmp_path):
    """Does clicking a header sort numerically (best first, then reversed, ties in rank order)
    and set aria-sort, and does the CSP block an inline script the page did not ship?"""
    text = leaderboard.html(load_entries(cohort), "t")
    text = text.replace("script-src ", f"script-src {_sha256(PROBE)} ")  # the probe may run
    text = text.replace("</body>", f"<script>{UNHASHED}</script><script>{PROBE}</script></body>")
    page = tmp_path / "probe.html"
    page.write_text(text)
    start = time.perf_counter()
    dom = Page(_dump_dom(page, tmp_path))
    assert time.perf_counter() - start < 20
    assert dom.body.get("data-probe"), "the probe script did not run"
    probe = json.loads(dom.body["data-probe"])
    assert probe["initial"] == ["alice", "bob", "dave", "carol", HOSTILE]
    # 1 < 9.5 < 10 < 100: a text sort would put 10 and 100 before 9.5
    assert probe["msFirst"] == [HOSTILE, "bob", "dave", "alice", "carol"]
    assert probe["ariaMs"] == ["none", "none", "none", "none", "ascending", "none"]
    assert probe["msSecond"] == ["carol", "alice", "bob", "dave", HOSTILE]
    assert probe["ariaMsSecond"] == "descending"
    assert probe["name"] == ["alice", "bob", "carol", "dave", HOSTILE]
    assert probe["accuracy"] == ["alice", "bob", "dave", "carol", HOSTILE]
    assert probe["title"] == "t"
    assert probe["unhashedRan"] is False
