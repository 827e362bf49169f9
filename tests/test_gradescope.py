"""The Gradescope package: `python -m autograder gradescope-zip`, then its run_autograder run in a
fake /autograder tree (AUTOGRADER_ROOT) with this checkout's Python (AUTOGRADER_PYTHON).

setup.sh is never run here (it apt-installs): its text is checked. Every grading is a real
`bash run_autograder` on assignment 01 (about 6 s each) in the strongest sandbox available.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from autograder import gradescope, gradescope_run, registry, sandbox

ROOT = Path(__file__).resolve().parents[1]
A01 = "01_kernel_convolution"
SOLUTION = ROOT / "solutions" / A01
SKELETON = ROOT / "assignments" / A01

# Official gradings need a sandbox; CI requires one (AUTOGRADER_REQUIRE_SANDBOX=1).
needs_sandbox = pytest.mark.skipif(
    not (sandbox.bwrap_works() or sandbox.user_mode_works())
    and os.environ.get("AUTOGRADER_REQUIRE_SANDBOX") != "1",
    reason="no sandbox can run here, and official gradings refuse to run without one")


@pytest.fixture(scope="module")
def zip_01(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The autograder zip of assignment 01, written by the command line."""
    out = tmp_path_factory.mktemp("zip") / "autograder.zip"
    done = subprocess.run([sys.executable, "-m", "autograder", "gradescope-zip", A01,
                           "--out", str(out)], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    return out


def run_autograder(zip_path: Path, root: Path, fill=None, **env: str) -> dict:
    """Unpack `zip_path` as Gradescope does under `root`, let `fill(submission)` lay out the
    upload, run `bash run_autograder`; results.json."""
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(root / "source")
    shutil.copy(root / "source" / "run_autograder", root / "run_autograder")
    (root / "submission").mkdir()
    if fill is not None:
        fill(root / "submission")
    environ = {**os.environ, "AUTOGRADER_ROOT": str(root), "AUTOGRADER_PYTHON": sys.executable,
               **env}
    done = subprocess.run(["bash", str(root / "run_autograder")], env=environ, cwd=root,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads((root / "results" / "results.json").read_text())


# ------------------------------------------------------------------------------- the zip


def test_zip_holds_the_grading_source_and_nothing_else(zip_01: Path) -> None:
    with zipfile.ZipFile(zip_01) as archive:
        infos = {info.filename: info for info in archive.infolist()}
    names = set(infos)
    assert {"setup.sh", "run_autograder", "course.toml", "requirements.txt",
            "autograder/cli.py", "dlcourse/data.py", "course/helpers/keras_checks.py",
            f"course/{A01}/test_public.py", f"course/{A01}/test_hidden.py"} <= names
    forbidden = ("solutions/", "tests/", "datasets/", ".git", "assignments/", "benchmarks/",
                 "course/student_repo/", "course/02_", "course/03_", "course/04_")
    assert not [n for n in names if n.startswith(forbidden) or "__pycache__" in n]
    executable = {n for n, info in infos.items() if (info.external_attr >> 16) & 0o111}
    assert executable == {"setup.sh", "run_autograder"}
    assert (infos["run_autograder"].external_attr >> 16) == 0o100755


def test_zip_is_reproducible(zip_01: Path, tmp_path: Path) -> None:
    """The same source gives the same bytes: an instructor can tell whether to re-upload."""
    course = registry.load()
    gradescope.build_zip(course, [A01], tmp_path / "again.zip")
    assert (tmp_path / "again.zip").read_bytes() == zip_01.read_bytes()


def test_setup_script_is_bash_that_installs_the_pins(zip_01: Path, tmp_path: Path) -> None:
    with zipfile.ZipFile(zip_01) as archive:
        setup = archive.read("setup.sh").decode()
        requirements = archive.read("requirements.txt").decode()
    (tmp_path / "setup.sh").write_text(setup)
    checked = subprocess.run(["bash", "-n", str(tmp_path / "setup.sh")], capture_output=True,
                             text=True)
    assert checked.returncode == 0, checked.stderr
    assert requirements == (ROOT / "requirements.txt").read_text()
    pins = [line for line in requirements.splitlines() if line and not line.startswith("#")]
    assert pins and all("==" in line for line in pins)
    assert 'pip install --no-cache-dir -r "$SOURCE/requirements.txt"' in setup
    assert f"ASSIGNMENTS=({A01})" in setup
    assert "useradd --system" in setup and sandbox.SANDBOX_USER in setup
    assert "gradescope_run datasets" in setup


def test_time_budget_scale_reaches_run_autograder(zip_01: Path, tmp_path: Path) -> None:
    with zipfile.ZipFile(zip_01) as archive:
        default = archive.read("run_autograder").decode()
    assert 'export AUTOGRADER_TIME_BUDGET_SCALE="1"\n' in default
    gradescope.build_zip(registry.load(), [A01], tmp_path / "slow.zip", time_budget_scale=2.5)
    with zipfile.ZipFile(tmp_path / "slow.zip") as archive:
        text = archive.read("run_autograder").decode()
    assert 'export AUTOGRADER_TIME_BUDGET_SCALE="2.5"\n' in text
    assert not re.search(r"@[A-Z_]+@", text)  # every placeholder filled


def test_unknown_assignment_is_refused(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "autograder", "gradescope-zip", "99_nope",
                           "--out", str(tmp_path / "a.zip")], cwd=ROOT, capture_output=True,
                          text=True)
    assert done.returncode == 2
    assert "unknown assignment '99_nope'" in done.stdout
    assert not (tmp_path / "a.zip").exists()


# ----------------------------------------------------------------------- run_autograder


@needs_sandbox
def test_repository_upload_of_the_solution_gets_full_marks(zip_01: Path, tmp_path: Path) -> None:
    def fill(upload: Path) -> None:
        shutil.copytree(SOLUTION, upload / "assignments" / A01)

    results = run_autograder(zip_01, tmp_path, fill)
    assert results["score"] == results["extra_data"]["max_score"] == 100
    hidden = [t for t in results["tests"] if "hidden" in t["tags"]]
    assert hidden and all(t["score"] == t["max_score"] for t in hidden)
    assert results["extra_data"]["sandbox"] in ("bwrap", "user")
    assert f"{A01}: graded assignments/{A01}/ of your upload (a repository)." in results["output"]
    assert results["leaderboard"] == []


@needs_sandbox
def test_the_module_alone_at_the_top_gets_full_marks(zip_01: Path, tmp_path: Path) -> None:
    results = run_autograder(zip_01, tmp_path,
                             lambda upload: shutil.copy(SOLUTION / "convolution.py", upload))
    assert results["score"] == 100
    assert "graded convolution.py and the files beside it" in results["output"]


@needs_sandbox
def test_the_released_skeleton_scores_zero_with_valid_results(zip_01: Path,
                                                              tmp_path: Path) -> None:
    results = run_autograder(zip_01, tmp_path,
                             lambda upload: shutil.copytree(SKELETON, upload / A01))
    assert results["score"] == 0
    assert results["extra_data"]["max_score"] == 100
    assert len(results["tests"]) > 10 and all(t["status"] == "failed" for t in results["tests"])
    assert "GRADER ERROR" not in results["output"]
    assert f"graded {A01}/ of your upload" in results["output"]


@needs_sandbox
def test_an_empty_upload_scores_zero_and_says_what_to_upload(zip_01: Path,
                                                             tmp_path: Path) -> None:
    results = run_autograder(zip_01, tmp_path)
    assert results["score"] == 0
    assert results["output"].startswith(f"{A01}: NOT FOUND in your upload, so it scores 0. "
                                        "Upload convolution.py itself")
    assert "Your upload holds: nothing." in results["output"]
    assert results["extra_data"]["max_score"] == 100  # the checks still ran and are listed


def test_a_grader_that_dies_still_leaves_valid_results(zip_01: Path, tmp_path: Path) -> None:
    """A broken engine (here: cli.py cannot be imported) writes no results of its own."""
    def fill(upload: Path) -> None:  # called once the zip is unpacked under tmp_path
        shutil.copy(SOLUTION / "convolution.py", upload)
        (tmp_path / "source" / "autograder" / "cli.py").write_text("this is not python\n")

    results = run_autograder(zip_01, tmp_path, fill)
    assert results["score"] == 0 and results["tests"] == []
    assert "The grader stopped without writing results (exit status 1)" in results["output"]
    assert "graded convolution.py" in results["output"]  # the upload was still found


def test_a_python_that_cannot_start_still_leaves_valid_results(zip_01: Path,
                                                               tmp_path: Path) -> None:
    results = run_autograder(zip_01, tmp_path, AUTOGRADER_PYTHON=str(tmp_path / "no-python"))
    assert results["score"] == 0 and results["tests"] == []
    assert "The autograder could not run" in results["output"]


# ------------------------------------------------------------------ finding the upload


def test_a_zipped_repository_folder_is_looked_into(tmp_path: Path) -> None:
    course = registry.load()
    module = tmp_path / "upload" / "my-course-main" / "assignments" / A01 / "convolution.py"
    module.parent.mkdir(parents=True)
    module.write_text("x = 1\n")
    (module.parent / ".secret").write_text("not copied\n")
    notes = gradescope_run.stage(tmp_path / "upload", course.select([A01]), tmp_path / "staged")
    assert notes == [f"{A01}: graded my-course-main/assignments/{A01}/ of your upload "
                     "(a repository)."]
    assert sorted(p.name for p in (tmp_path / "staged" / A01).iterdir()) == ["convolution.py"]


def test_a_loose_model_goes_where_the_challenge_looks(tmp_path: Path) -> None:
    course = registry.load()
    upload = tmp_path / "upload"
    upload.mkdir()
    (upload / "challenge.py").write_text("x = 1\n")
    (upload / "model.keras").write_bytes(b"PK fake")
    gradescope_run.stage(upload, course.select(["04_cifar10_challenge"]), tmp_path / "staged")
    staged = tmp_path / "staged" / "04_cifar10_challenge"
    assert (staged / "submission" / "model.keras").read_bytes() == b"PK fake"
    assert not (staged / "model.keras").exists()


def test_a_linked_module_is_not_followed(tmp_path: Path) -> None:
    """A link could point at the instructor's files: it is never graded or copied."""
    course = registry.load()
    upload = tmp_path / "upload"
    upload.mkdir()
    (upload / "convolution.py").symlink_to("/etc/passwd")
    (upload / "notes.txt").write_text("hello\n")
    folder, note = gradescope_run.locate(upload, course.get(A01))
    assert folder is None
    assert note.endswith("Your upload holds: convolution.py, notes.txt.")


def test_datasets_are_seeded_with_their_cache(real_data_dir: Path, tmp_path: Path) -> None:
    """What setup.sh runs: each dataset the assignments name is loaded, verified and cached."""
    data_dir = tmp_path / "data" / "fashion-mnist"
    data_dir.mkdir(parents=True)
    for file in (real_data_dir / "fashion-mnist").glob("*.gz"):
        (data_dir / file.name).symlink_to(file)
    done = subprocess.run(
        [sys.executable, "-m", "autograder.gradescope_run", "datasets", A01, "02_mlp_baseline",
         "03_fashion_cnn"], cwd=ROOT, capture_output=True, text=True,
        env={**os.environ, "DLCOURSE_DATA_DIR": str(tmp_path / "data")})
    assert done.returncode == 0, done.stderr
    assert done.stdout == "dataset fashion-mnist: ready\n"
    assert sorted(p.name for p in (data_dir / "cache").iterdir()) == [
        "x_test.npy", "x_train.npy", "y_test.npy", "y_train.npy"]
