"""Are the GitHub Actions workflows safe, least-privileged and lint-clean, and does the comment
script post only what it should?

Four workflows: the students' `grade.yml` and `grade-comment.yml` (in course/student_repo/,
exported to the student repository's root) and the instructor's `test.yml` and
`grade-class.yml` (this repository only). actionlint and zizmor (offline) must pass on all of
them; `workflow_problems` states the properties the issue asks for, and is itself tested on
mutated workflows so that it cannot pass vacuously. The comment workflow's JavaScript runs for
real under Node, with GitHub's API stubbed, on hostile artifacts.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
STUDENT = ROOT / "course" / "student_repo" / ".github" / "workflows"
INSTRUCTOR = ROOT / ".github" / "workflows"
GRADE, COMMENT = STUDENT / "grade.yml", STUDENT / "grade-comment.yml"
TEST, GRADE_CLASS = INSTRUCTOR / "test.yml", INSTRUCTOR / "grade-class.yml"
WORKFLOWS = [GRADE, COMMENT, TEST, GRADE_CLASS]
BIN = Path(sys.executable).parent  # actionlint and zizmor come with requirements.txt

READ_CONTENTS = {"contents": "read"}
COMMENT_PERMISSIONS = {"actions": "read", "pull-requests": "write"}
PERMISSIONS = {GRADE: READ_CONTENTS, COMMENT: COMMENT_PERMISSIONS, TEST: READ_CONTENTS,
               GRADE_CLASS: READ_CONTENTS}
PINNED_USES = re.compile(r"^\s*(?:- )?uses: [\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+\s*$")


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def triggers(workflow: dict) -> dict:
    """The `on:` mapping (YAML 1.1 reads the bare key `on` as True)."""
    on = workflow.get("on", workflow.get(True))
    return {name: None for name in on} if isinstance(on, list) else dict(on or {})


def steps(workflow: dict) -> list[dict]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def workflow_problems(workflow: dict, text: str, permissions: dict[str, str],
                      grade_name: str | None = None) -> list[str]:
    """What is wrong with one parsed workflow (and its text): an empty list when nothing."""
    problems = []
    top = workflow.get("permissions")
    if top is None:
        problems.append("no top-level permissions: the token would get the repository default")
    for name, job in workflow["jobs"].items():
        effective = job.get("permissions", top)
        if effective != permissions:
            problems.append(f"job {name} has permissions {effective}, not {permissions}")
    if top not in ({}, permissions):
        problems.append(f"top-level permissions {top} grant more than {permissions}")
    for line in text.splitlines():
        if re.match(r"^\s*(?:- )?uses:", line) and not PINNED_USES.match(line):
            problems.append(f"not pinned by a full commit SHA with its # vX.Y.Z: {line.strip()}")
    on = triggers(workflow)
    if "pull_request_target" in on:
        problems.append("pull_request_target runs fork code with a write token")
    for step in steps(workflow):
        uses = step.get("uses", "")
        if uses.startswith("actions/checkout@"):
            if "workflow_run" in on:
                problems.append("the workflow_run workflow checks out code")
            if (step.get("with") or {}).get("persist-credentials") is not False:
                problems.append("checkout without persist-credentials: false")
        scripts = [step.get("run", "")]
        if uses.startswith("actions/github-script@"):
            scripts.append((step.get("with") or {}).get("script", ""))
        if any("${{" in script for script in scripts):
            problems.append(f"an expression inside a script (template injection): {step}")
    if "workflow_run" in on and on["workflow_run"].get("workflows") != [grade_name]:
        problems.append(f"workflow_run follows {on['workflow_run'].get('workflows')}, "
                        f"not [{grade_name!r}]")
    return problems


# ------------------------------------------------------------------------ linters


def lint(tool: str, *args: str, files: list[Path]) -> subprocess.CompletedProcess:
    binary = BIN / tool
    assert binary.is_file(), f"{binary} is missing: pip install -r requirements.txt"
    env = {k: v for k, v in os.environ.items() if k not in ("GH_TOKEN", "GITHUB_TOKEN")}
    env["ZIZMOR_OFFLINE"] = "1"  # the same findings everywhere, with or without a network
    return subprocess.run([str(binary), *args, *map(str, files)], capture_output=True,
                          text=True, env=env, timeout=120)


def test_actionlint_passes_on_every_workflow():
    done = lint("actionlint", files=WORKFLOWS)
    assert done.returncode == 0, done.stdout + done.stderr


def test_zizmor_passes_on_every_workflow():
    done = lint("zizmor", "--offline", files=WORKFLOWS)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("old, new, finding", [
    (" # zizmor: ignore[dangerous-triggers]", " #", "dangerous-triggers"),
    ("        with:\n          persist-credentials: false\n", "", "artipacked"),
])
def test_zizmor_finds_a_weakened_workflow(tmp_path, old, new, finding):
    """The gate bites: without the reasoned ignore, or with credentials left in .git, zizmor
    fails (the checkout mutation is tried on test.yml, the other on the comment workflow)."""
    source = COMMENT if "zizmor" in old else TEST
    text = source.read_text(encoding="utf-8")
    assert old in text
    mutated = tmp_path / source.name
    mutated.write_text(text.replace(old, new), encoding="utf-8")
    done = lint("zizmor", "--offline", files=[mutated])
    assert done.returncode != 0 and finding in done.stdout + done.stderr, done.stdout


def test_actionlint_finds_a_broken_workflow(tmp_path):
    """A misspelt function and an unknown runner label: actionlint fails."""
    for old, new in (("!cancelled()", "!canceled()"), ("ubuntu-24.04", "ubuntu-2404")):
        text = GRADE.read_text(encoding="utf-8")
        assert old in text
        mutated = tmp_path / "grade.yml"
        mutated.write_text(text.replace(old, new), encoding="utf-8")
        done = lint("actionlint", files=[mutated])
        assert done.returncode != 0 and new.split("(")[0] in done.stdout, done.stdout


# ------------------------------------------------------------------------ properties


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_has_the_required_properties(path):
    assert workflow_problems(load(path), path.read_text(encoding="utf-8"), PERMISSIONS[path],
                             grade_name=load(GRADE)["name"]) == []


def _mutations() -> list[tuple[Path, object, str]]:
    """(workflow, how to break it, the problem expected): each property once."""
    def set_top(key, value):
        return lambda w, t: ({**w, key: value}, t)

    def grade_job(change):
        def apply(w, t):
            w = copy.deepcopy(w)
            change(w["jobs"]["grade"])
            return w, t
        return apply

    def text(old, new):
        return lambda w, t: (yaml.safe_load(t.replace(old, new)), t.replace(old, new))

    checkout = "uses: actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7.0.1"
    return [
        (GRADE, set_top("permissions", {"contents": "write"}), "permissions"),
        (GRADE, lambda w, t: ({k: v for k, v in w.items() if k != "permissions"}, t),
         "no top-level permissions"),
        (GRADE, grade_job(lambda j: j.update(permissions={"contents": "read",
                                                          "pull-requests": "write"})),
         "job grade has permissions"),
        (COMMENT, text("pull-requests: write", "pull-requests: write\n      contents: write"),
         "job comment has permissions"),
        (COMMENT, text("      actions: read # download", "      # download"),
         "job comment has permissions"),
        (GRADE, text(checkout, "uses: actions/checkout@v7.0.1"), "not pinned"),
        (GRADE, text(" # v7.0.1", ""), "not pinned"),
        (GRADE, text("  pull_request:\n", "  pull_request_target:\n"), "pull_request_target"),
        (GRADE, text("persist-credentials: false", "persist-credentials: true"),
         "persist-credentials"),
        (COMMENT, text("      - uses: actions/download-artifact",
                       f"      - {checkout}\n        with:\n          persist-credentials: false"
                       "\n      - uses: actions/download-artifact"), "checks out code"),
        (COMMENT, text("workflows: [Grade]", "workflows: [Grading]"), "workflow_run follows"),
        (GRADE, text('int(os.environ["PR_NUMBER"])', "${{ github.event.pull_request.number }}"),
         "expression inside a script"),
        (COMMENT, text('const dir = process.env.ARTIFACT_DIR;',
                       'const dir = "${{ runner.temp }}";'), "expression inside a script"),
    ]


@pytest.mark.parametrize("index", range(len(_mutations())))
def test_a_broken_property_is_reported(index):
    path, mutate, expected = _mutations()[index]
    text = path.read_text(encoding="utf-8")
    workflow, text = mutate(load(path), text)
    problems = workflow_problems(workflow, text, PERMISSIONS[path], grade_name="Grade")
    assert any(expected in p for p in problems), problems


def test_grade_workflow_triggers_and_never_fails_on_a_low_score():
    workflow = load(GRADE)
    assert set(triggers(workflow)) == {"push", "pull_request", "workflow_dispatch"}
    runs = [s["run"] for s in steps(workflow) if "run" in s]
    grading = [r for r in runs if "python -m autograder grade" in r]
    # --fail-under is what would turn a low score into a failed job.
    assert grading == ["python -m autograder grade --out grading"]
    upload = next(s for s in steps(workflow) if s.get("uses", "").startswith(
        "actions/upload-artifact@"))
    assert set(upload["with"]["path"].split()) == {"grading/results.json", "grading/report.md",
                                                   "grading/pr.json"}


def test_comment_runs_only_for_pull_requests_of_the_grade_workflow():
    workflow = load(COMMENT)
    assert set(triggers(workflow)) == {"workflow_run"}
    assert triggers(workflow)["workflow_run"]["types"] == ["completed"]
    (job,) = workflow["jobs"].values()
    assert "github.event.workflow_run.event == 'pull_request'" in job["if"]


def test_class_grading_passes_inputs_and_the_token_through_env_only():
    workflow = load(GRADE_CLASS)
    inputs = triggers(workflow)["workflow_dispatch"]["inputs"]
    assert set(inputs) == {"roster", "deadline", "shards"} and inputs["shards"]["default"] == 4
    grade = next(s for s in workflow["jobs"]["grade"]["steps"] if "grade-class" in s.get("run", ""))
    assert grade["env"]["GRADE_CLASS_TOKEN"] == "${{ secrets.GRADE_CLASS_TOKEN }}"
    assert "secrets." not in GRADE_CLASS.read_text(encoding="utf-8").replace(
        "${{ secrets.GRADE_CLASS_TOKEN }}", "")
    assert workflow["jobs"]["merge"]["needs"] == "grade"


@pytest.mark.parametrize("shards, ok", [("4", True), ("1", True), ("20", True), ("0", False),
                                         ("21", False), ("-1", False), ("2.5", False),
                                         ("4; echo pwned", False), ("", False)])
def test_class_grading_plan_validates_the_shard_count(tmp_path, shards, ok):
    """The plan step's Python, run as the runner runs it."""
    plan = next(s for s in load(GRADE_CLASS)["jobs"]["plan"]["steps"] if s.get("id") == "plan")
    output = tmp_path / "github_output"
    done = subprocess.run(["bash", "-c", plan["run"]], capture_output=True, text=True,
                          env={**os.environ, "SHARDS": shards, "GITHUB_OUTPUT": str(output)},
                          timeout=30)
    assert (done.returncode == 0) == ok, done.stderr
    if ok:
        n = int(shards)
        assert output.read_text().splitlines() == [f"shards={json.dumps(list(range(1, n + 1)))}",
                                                   f"count={n}"]


def autograder_commands() -> list[tuple[str, list[str]]]:
    """Every `python -m autograder ...` a workflow runs, its variables given sample values."""
    commands = []
    for path in WORKFLOWS:
        for step in steps(load(path)):
            for line in step.get("run", "").splitlines():
                if "python -m autograder " in line:
                    command = line.split("python -m autograder ", 1)[1]
                    command = re.sub(r"\$([A-Z_]+)", lambda m: f"sample-{m.group(1)}", command)
                    commands.append((path.name, shlex.split(command)))
    return commands


def test_every_autograder_command_in_a_workflow_parses():
    """The workflows call the real command line: a renamed option fails here, not on GitHub."""
    from autograder.cli import build_parser

    commands = autograder_commands()
    assert {name for name, _ in commands} == {"grade.yml", "grade-class.yml"}
    assert {argv[0] for _, argv in commands} == {"grade", "grade-class", "merge-class"}
    for name, argv in commands:
        try:
            build_parser().parse_args(argv)
        except SystemExit:
            pytest.fail(f"{name}: python -m autograder {shlex.join(argv)} does not parse")


def test_the_student_export_holds_the_student_workflows_only(tmp_path):
    dest = tmp_path / "student"
    done = subprocess.run([sys.executable, "-m", "autograder", "student-repo", str(dest)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    exported = dest / ".github" / "workflows"
    assert sorted(p.name for p in exported.iterdir()) == ["grade-comment.yml", "grade.yml"]
    for path in (GRADE, COMMENT):
        assert (exported / path.name).read_bytes() == path.read_bytes()
    assert not list(dest.rglob("test.yml")) and not list(dest.rglob("grade-class.yml"))


# ------------------------------------------------------------ the comment script, under Node

NODE = shutil.which("node")
needs_node = pytest.mark.skipif(NODE is None, reason="Node.js is not installed: the comment "
                                                     "script cannot run here")
RUN_URL = "https://github.com/course/student/actions/runs/42"
HEAD = "a" * 40
# Runs the script as actions/github-script does (an async function of github, context, core,
# require), with the REST call answered from the case's table of pull requests.
HARNESS = r"""
const fs = require("fs");
const [script, caseFile] = process.argv.slice(2);
const c = JSON.parse(fs.readFileSync(caseFile, "utf8"));
const outputs = {}, logs = [], calls = [];
const core = {
  setOutput: (k, v) => { outputs[k] = String(v); },
  info: (m) => logs.push(String(m)), warning: (m) => logs.push(String(m)),
  setFailed: (m) => { throw new Error(`setFailed: ${m}`); },
};
const github = { rest: { pulls: { get: async (params) => {
  calls.push(params);
  const sha = c.pulls[String(params.pull_number)];
  if (sha === undefined) { const e = new Error("Not Found"); e.status = 404; throw e; }
  return { data: { number: params.pull_number, head: { sha } } };
} } } };
const context = { repo: { owner: "course", repo: "student" },
                  payload: { workflow_run: { head_sha: c.head_sha, html_url: c.html_url } } };
const AsyncFunction = Object.getPrototypeOf(async function () {}).constructor;
new AsyncFunction("github", "context", "core", "require", fs.readFileSync(script, "utf8"))(
  github, context, core, require)
  .then(() => console.log(JSON.stringify({ outputs, logs, calls })))
  .catch((e) => { console.error(e.stack); process.exit(3); });
"""


def comment_script() -> str:
    (job,) = load(COMMENT)["jobs"].values()
    step = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/github-script@"))
    return step["with"]["script"]


def write_artifact(tmp_path: Path, pr: object, report: str | bytes | None) -> Path:
    """An artifact folder holding `pr` (as JSON unless bytes; none if None) and `report`."""
    artifact = tmp_path / "artifact"
    artifact.mkdir()
    if pr is not None:
        (artifact / "pr.json").write_bytes(pr if isinstance(pr, bytes) else
                                           json.dumps(pr).encode())
    if report is not None:
        (artifact / "report.md").write_bytes(report if isinstance(report, bytes) else
                                             report.encode("utf-8"))
    return artifact


def run_script(tmp_path: Path, artifact: Path,
               pulls: dict[str, str] | None = None) -> tuple[dict, str | None]:
    """Run the comment script on `artifact`, GitHub knowing the pull requests `pulls` (number
    -> head SHA); return what it output, logged and asked, and the body it wrote (or None)."""
    (tmp_path / "script.js").write_text(comment_script(), encoding="utf-8")
    (tmp_path / "harness.js").write_text(HARNESS, encoding="utf-8")
    case = {"head_sha": HEAD, "html_url": RUN_URL, "pulls": pulls or {"7": HEAD}}
    (tmp_path / "case.json").write_text(json.dumps(case), encoding="utf-8")
    body = tmp_path / "body.md"
    env = {**os.environ, "ARTIFACT_DIR": str(artifact), "BODY_PATH": str(body)}
    done = subprocess.run([NODE, str(tmp_path / "harness.js"), str(tmp_path / "script.js"),
                           str(tmp_path / "case.json")], capture_output=True, env=env,
                          timeout=60)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    text = body.read_bytes().decode("utf-8") if body.exists() else None  # strict: valid UTF-8
    return json.loads(done.stdout), text


def run_comment(tmp_path: Path, pr: object, report: str | bytes | None,
                pulls: dict[str, str] | None = None) -> tuple[dict, str | None]:
    return run_script(tmp_path, write_artifact(tmp_path, pr, report), pulls)


@needs_node
def test_a_valid_pull_request_gets_the_report_and_the_run_link(tmp_path):
    report = "## Grade: 50 / 100 (50.0%)\n\n| # | check | points | status |\n"
    result, body = run_comment(tmp_path, {"number": 7, "head_sha": HEAD}, report)
    assert result["outputs"] == {"number": "7"}
    assert result["calls"] == [{"owner": "course", "repo": "student", "pull_number": 7}]
    assert body.startswith(report) and body.count(RUN_URL) == 1
    assert body.rstrip().endswith("the official grade.") and "truncated" not in body


@needs_node
@pytest.mark.parametrize("pr", [
    {"number": "12; rm -rf /"}, {"number": -1}, {"number": 1234567890}, {"number": 12.5},
    {"number": "12.0"}, {"number": [7]}, {"number": {"n": 7}}, {"number": None}, {}, [7], None,
    b"null", b"not json", b"\xff\xfe7",
], ids=lambda pr: repr(pr)[:24])
def test_a_forged_pull_request_number_gets_no_comment(tmp_path, pr):
    """Nothing that is not a 1-9 digit number reaches the API, and no body is written."""
    result, body = run_comment(tmp_path, pr, "## Grade: 100 / 100\n")
    assert result["outputs"] == {} and body is None and result["calls"] == []
    assert any(line.startswith("No comment:") for line in result["logs"]), result["logs"]


@needs_node
@pytest.mark.parametrize("pulls", [{"7": "b" * 40}, {"8": HEAD}], ids=["other-head", "no-such-pr"])
def test_a_pull_request_whose_head_is_not_the_graded_commit_gets_no_comment(tmp_path, pulls):
    """A run claiming another pull request (or one that moved on) comments nowhere."""
    result, body = run_comment(tmp_path, {"number": 7, "head_sha": HEAD}, "## Grade\n", pulls)
    assert result["outputs"] == {} and body is None and len(result["calls"]) == 1
    assert any("No comment:" in line for line in result["logs"])


@needs_node
@pytest.mark.parametrize("pad", range(4))
def test_a_huge_multibyte_report_is_cut_to_60000_valid_utf8_bytes(tmp_path, pad):
    """200 kB of 1- to 4-byte characters, cut inside a code block of a <details>; the padding
    moves the cut across every byte of a character, and none may be split."""
    report = "## Grade: 1 / 2\n\n<details><summary>1 x</summary>\n\n```\n" + "x" * pad + (
        "aé漢🙂\n" * 20_000)
    assert len(report.encode()) > 200_000
    _, body = run_comment(tmp_path, {"number": 7, "head_sha": HEAD}, report)
    assert len(body.encode("utf-8")) <= 60_000 and "\ufffd" not in body
    assert "truncated: see the run" in body and body.count(RUN_URL) == 1
    before_note = body.split("**… truncated")[0]
    assert sum(line.startswith("```") for line in before_note.splitlines()) % 2 == 0
    assert before_note.count("<details>") == before_note.count("</details>")


@needs_node
def test_a_forged_report_cannot_mention_or_oversize(tmp_path):
    """@-mentions are broken (no one is notified in the bot's name); 10,000 unclosed <details>
    and invalid UTF-8 still give a valid body under the limit."""
    report = b"@octocat please @ the-team " + b"<details>" * 10_000 + b"\xff\xc3" + b"x" * 70_000
    _, body = run_comment(tmp_path, {"number": 7, "head_sha": HEAD}, report)
    assert "@octocat" not in body and "@\u200boctocat" in body
    assert len(body.encode("utf-8")) <= 60_000 and "truncated: see the run" in body


@needs_node
def test_a_report_that_is_a_link_is_not_followed(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOKEN-VALUE", encoding="utf-8")
    artifact = write_artifact(tmp_path, {"number": 7}, None)
    (artifact / "report.md").symlink_to(secret)
    result, body = run_script(tmp_path, artifact)
    assert result["outputs"] == {"number": "7"}
    assert "TOKEN-VALUE" not in body and "left no report.md" in body
