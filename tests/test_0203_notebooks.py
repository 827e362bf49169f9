"""Do the 02, 03 and 04 notebooks run headless and draw their figures, and does their shared
setup cell work outside the repository? (Their release is tested in test_release.py.)

The notebooks run with DLCOURSE_FAST=1: 2,000 training images (200 of them held out for
validation) and 1,000 test images; 02 and 03 train each model for 5 short epochs, 04 its
baseline for one (see the notebooks' Setup section), so each takes well under a minute.
The data comes from the `real_data_dir` fixture in conftest.py (skip without
$DLCOURSE_DATA_DIR, fail instead when DLCOURSE_REQUIRE_DATA=1).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from notebook_figures import figures_by_cell, recorded_figures, with_figure_recorder

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = {"02_mlp_baseline": "mlp", "03_fashion_cnn": "cnn", "04_cifar10_challenge": "challenge"}
REFERENCE_MODEL = ROOT / "solutions" / "04_cifar10_challenge" / "submission" / "model.keras"
# Figures each notebook draws: 02 samples, curves, confusion matrix, mistakes; 03 the same with
# two sets of curves, plus filters, the input image and its feature maps, accuracy against
# size, a shifted image and the accuracy on shifted images.
# 04: samples, augmentation, curves, per-class accuracy, confusion matrix, mistakes, and the
# comparison with the submitted model when there is one.
FIGURES = {"02_mlp_baseline": 4, "03_fashion_cnn": 11,
           "04_cifar10_challenge": 7 if REFERENCE_MODEL.is_file() else 6}
# Lines each notebook prints: 02 the test accuracy and the validation metrics its 5 FAST
# epochs recorded, 03 the same and the comparison and shift tables, 04 the baseline's accuracy.
EXPECTED_TEXT = {
    "02_mlp_baseline": ["test accuracy", "trained for 5 epoch(s)", "'val_accuracy'"],
    "03_fashion_cnn": ["| your CNN", "your CNN:   5 epoch(s)", "'val_accuracy'", "3 px"],
    "04_cifar10_challenge": ["baseline test accuracy"],
}
# figure cell id -> (texts its titles, labels or legends must hold, fewest points on a line)
FIGURE_CELLS = {
    "02_mlp_baseline": {
        "fig-plotting-plot-history-history": (["MLP", "loss", "accuracy", "epoch", "train",
                                               "validation"], 5),
    },
    "03_fashion_cnn": {
        "fig-plotting-plot-history-simple-history": (["simple CNN", "epoch", "validation"], 5),
        "fig-plotting-plot-history-my-history": (["your CNN", "epoch", "validation"], 5),
        "fig-plotting-plot-accuracy-vs-parameters": (
            ["against model size", "parameters (log scale)", "test accuracy", "MLP (02)",
             "simple CNN", "your CNN"], 1),
        "shifts-3-2-1-0-1-2-3": (["shifted left (-) and right (+)", "original", "+3 px"], 0),
        "def-shifted-accuracies-model-preprocess": (
            ["shifted test images", "shifted left (-) / right (+)", "shifted up (-) / down (+)",
             "shift (pixels)", "test accuracy", "MLP (02)", "simple CNN", "your CNN"], 7),
    },
    "04_cifar10_challenge": {},
}
# TensorFlow's start-up lines and warnings that the setup cell must keep out of the outputs
TF_NOISE = ("oneDNN", "absl::InitializeLog", "cuda", "TF-TRT", "WARNING:tensorflow")
CELL_TIMEOUT_S = 300
RUN_LIMIT_S = 240  # FAST mode takes well under a minute; full training would take many

def notebook_path(top: str, assignment: str) -> Path:
    return ROOT / top / assignment / f"{assignment}.ipynb"


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("assignment", sorted(NOTEBOOKS))
def test_solution_notebook_runs_headless_in_fast_mode(assignment, real_data_dir, monkeypatch):
    """Does every cell of the solution notebook run in FAST mode, with no TensorFlow noise, and
    does each figure cell draw its titled, labelled figure (curves of several points)?"""
    path = notebook_path("solutions", assignment)
    notebook = nbformat.read(path, as_version=4)
    with_figure_recorder(notebook)
    monkeypatch.setenv("DLCOURSE_FAST", "1")
    monkeypatch.setenv("DLCOURSE_DATA_DIR", str(real_data_dir))
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)  # the setup cell must quiet TF
    client = NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    start = time.perf_counter()
    client.execute()  # raises CellExecutionError, with the cell and its traceback, on an error
    seconds = time.perf_counter() - start
    print(f"{path.name} ran in {seconds:.1f} s")
    assert seconds < RUN_LIMIT_S, f"{path.name} took {seconds:.0f} s in FAST mode"
    outputs = [
        output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs
    ]
    text = "".join(output.get("text", "") for output in outputs)
    noise = [line for line in text.splitlines() if any(word in line for word in TF_NOISE)]
    assert not noise, f"TensorFlow's noise reached {path.name}: {noise}"
    missing = [line for line in EXPECTED_TEXT[assignment] if line not in text]
    assert not missing, f"{path.name} did not print {missing}"

    figures = recorded_figures(notebook)
    assert len(figures) == FIGURES[assignment], (
        f"{path.name} drew {len(figures)} figures, expected {FIGURES[assignment]}"
    )
    by_cell = figures_by_cell(notebook, figures)
    for cell_id, (texts, points) in FIGURE_CELLS[assignment].items():
        assert len(by_cell.get(cell_id, [])) == 1, f"cell {cell_id} must draw one figure"
        figure = by_cell[cell_id][0]
        joined = "\n".join(figure["texts"])
        absent = [piece for piece in texts if piece not in joined]
        assert not absent, f"the figure of {cell_id} lacks {absent}: {figure['texts']}"
        assert figure["points"] >= points, (
            f"the figure of {cell_id} has lines of {figure['points']} points, expected {points}"
        )
        assert figure["width"] >= 7, f"the figure of {cell_id} is {figure['width']} in wide"
    if assignment == "03_fashion_cnn":
        size = by_cell["fig-plotting-plot-accuracy-vs-parameters"][0]
        assert size["xscales"] == ["log"], f"parameters must be on a log scale: {size}"


@pytest.mark.parametrize("assignment", sorted(NOTEBOOKS))
def test_notebook_imports_its_module_and_holds_no_solution(assignment):
    """Does the notebook import its graded module, hold no solution region and no outputs?"""
    path = notebook_path("solutions", assignment)
    notebook = nbformat.read(path, as_version=4)
    code = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code")
    module = NOTEBOOKS[assignment]
    assert f"\nimport {module}\n" in f"\n{code}\n", f"{path.name} must import {module}"
    assert "BEGIN SOLUTION" not in code and "END SOLUTION" not in code
    with_outputs = [
        index
        for index, cell in enumerate(notebook.cells)
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)
    ]
    assert not with_outputs, f"{path.name} is committed with outputs in cells {with_outputs}"
    nbformat.validate(notebook)


def setup_cell(path: Path) -> nbformat.NotebookNode:
    """The notebook's first code cell: the setup cell."""
    cells = nbformat.read(path, as_version=4).cells
    return next(cell for cell in cells if cell.cell_type == "code")


def run_setup(source: str, cwd: Path, pythonpath: str | None,
              prelude: str = "") -> subprocess.CompletedProcess[str]:
    """Run a setup cell's source in a fresh Python, then print sys.path[0]."""
    env = {key: value for key, value in os.environ.items()
           if key not in ("PYTHONPATH", "TF_CPP_MIN_LOG_LEVEL")}
    if pythonpath is not None:
        env["PYTHONPATH"] = pythonpath
    code = f"{prelude}{source}\nprint('first on sys.path:', sys.path[0])\n"
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=180)


def test_setup_cell_is_shared_and_editable():
    """Is the first code cell the same in 02, 03 and 04 but for ASSIGNMENT, and editable (the
    student sets REPOSITORY in it)?"""
    sources = {}
    for assignment in NOTEBOOKS:
        cell = setup_cell(notebook_path("solutions", assignment))
        assert not cell.metadata.get("nbgrader", {}).get("locked"), (
            f"the setup cell of {assignment} must stay editable (REPOSITORY)"
        )
        line = f'ASSIGNMENT = "{assignment}"'
        assert cell.source.count(line) == 1, f"the setup cell of {assignment} lacks {line}"
        assert cell.source.startswith("# Google Colab only") and "REPOSITORY = " in cell.source
        sources[assignment] = cell.source.replace(line, 'ASSIGNMENT = "..."')
    assert len(set(sources.values())) == 1, "the setup cells of 02, 03 and 04 differ"


def test_setup_cell_explains_a_missing_course_package(tmp_path):
    """Without dlcourse installed and outside the repository, does the setup cell raise an
    error that says how to fix it (not StopIteration or RuntimeError)?"""
    source = setup_cell(notebook_path("solutions", "03_fashion_cnn")).source
    # dlcourse set to None in sys.modules: `import dlcourse` fails as if it were not installed
    done = run_setup(source, tmp_path, None, prelude="import sys\nsys.modules['dlcourse'] = None\n")
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("ModuleNotFoundError:"), done.stderr[-2000:]
    assert "pip install" in last and "assignments/03_fashion_cnn" in last, last
    assert "StopIteration" not in done.stderr


def test_setup_cell_runs_quietly_from_a_copied_folder(tmp_path):
    """From a copy of the assignment folder outside the repository, with dlcourse importable
    from elsewhere (as after `pip install`), does the setup cell put the folder first on
    sys.path, use that dlcourse, and import Keras without a line on stderr?"""
    site = tmp_path / "site-packages"
    shutil.copytree(ROOT / "dlcourse", site / "dlcourse",
                    ignore=shutil.ignore_patterns("__pycache__"))
    folder = tmp_path / "work" / "02_mlp_baseline"
    shutil.copytree(ROOT / "solutions" / "02_mlp_baseline", folder,
                    ignore=shutil.ignore_patterns("__pycache__"))
    done = run_setup(setup_cell(folder / "02_mlp_baseline.ipynb").source, folder, str(site))
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"first on sys.path: {folder}" in done.stdout, done.stdout
    assert f"dlcourse from:   {site / 'dlcourse'}" in done.stdout, done.stdout
    assert done.stderr == "", f"the setup cell wrote to stderr: {done.stderr[-2000:]}"
