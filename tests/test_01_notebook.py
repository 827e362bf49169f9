"""Does the 01_kernel_convolution notebook run headless and draw its figures (release:
test_release.py), and does its setup cell work outside the repository?"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from notebook_figures import recorded_figures, with_figure_recorder

ROOT = Path(__file__).resolve().parent.parent
ASSIGNMENT = "01_kernel_convolution"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"
SOLUTION = ROOT / "solutions" / ASSIGNMENT / NOTEBOOK
RELEASED = ROOT / "assignments" / ASSIGNMENT
RUN_LIMIT_S = 60
# TensorFlow's start-up lines that the setup cell must keep out of the cells' output
TF_NOISE = ("oneDNN", "absl::InitializeLog", "cuda", "TF-TRT")

# figure cell id -> (colour bars at least, texts its titles or labels must hold)
FIGURES = {
    "fig-samples": (0, ["Fashion-MNIST"]),
    "fig-correlation": (5, ["asymmetric", "correlate2d(image, kernel)",
                            "convolve2d(image, kernel)", "convolve2d - correlate2d",
                            "flipped"]),
    "fig-classic-kernels": (1, ["Sobel gx", "Sobel gy", "edge magnitude"]),
    "fig-window-positions": (0, ["padding='valid'", "padding='same'", "out = ceil(5 / 2) = 3",
                                 "out = floor((5 - 3) / 2) + 1 = 2", "1 before, 1 after",
                                 "0 before, 1 after"]),
    "fig-keras-comparison": (3, ["3-channel", "max abs difference", "your conv2d",
                                 "Keras Conv2D", "yours - Keras"]),
    "fig-kernels": (4, ["Sobel gx", "random"]),
    "fig-feature-maps": (3, ["after conv", "after ReLU", "after 2x2 max-pool"]),
}


def _texts(figure: dict) -> str:
    return "\n".join(figure["texts"])


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_solution_notebook_runs_headless_and_draws_its_figures(real_data_dir, monkeypatch):
    """Does every cell run within a minute, with no TensorFlow noise, and does each figure
    cell draw one titled figure, about notebook width, with its colour bars and labels?"""
    notebook = nbformat.read(SOLUTION, as_version=4)
    figure_cells = [cell.id for cell in notebook.cells if cell.id.startswith("fig-")]
    assert figure_cells == list(FIGURES), "the notebook's figure cells changed"
    with_figure_recorder(notebook)
    monkeypatch.setenv("DLCOURSE_DATA_DIR", str(real_data_dir))
    for name in ("TF_CPP_MIN_LOG_LEVEL", "TF_ENABLE_ONEDNN_OPTS"):  # the setup cell quiets TF
        monkeypatch.delenv(name, raising=False)
    client = NotebookClient(notebook, timeout=RUN_LIMIT_S, kernel_name="python3",
                            resources={"metadata": {"path": str(SOLUTION.parent)}})
    start = time.perf_counter()
    client.execute()  # raises CellExecutionError, naming the cell, on any error
    seconds = time.perf_counter() - start
    assert seconds < RUN_LIMIT_S, f"{NOTEBOOK} took {seconds:.0f} s (limit {RUN_LIMIT_S} s)"

    cells = {cell.id: cell for cell in notebook.cells if cell.cell_type == "code"}
    streams = "".join(output.get("text", "") for cell in cells.values()
                      for output in cell.outputs if output.output_type == "stream")
    noise = [line for line in streams.splitlines() if any(word in line for word in TF_NOISE)]
    assert not noise, f"TensorFlow start-up lines reached the notebook: {noise}"
    assert "max abs error vs Keras" in streams, "the conv2d comparison with Keras did not print"
    assert "by hand" in streams, "the parameter count did not print"
    for cell_id in FIGURES:
        pictures = [output for output in cells[cell_id].outputs
                    if "image/png" in output.get("data", {})]
        assert len(pictures) == 1, f"cell {cell_id} drew {len(pictures)} figures, expected 1"

    figures = recorded_figures(notebook)
    assert len(figures) == len(FIGURES), f"{len(figures)} figures drawn: {figures}"
    for (cell_id, (colorbars, texts)), figure in zip(FIGURES.items(), figures, strict=True):
        assert figure["suptitle"], f"the figure of {cell_id} has no title"
        assert figure["width"] >= 8, f"the figure of {cell_id} is {figure['width']} in wide"
        assert figure["colorbars"] >= colorbars, (
            f"the figure of {cell_id} has {figure['colorbars']} colour bars, expected "
            f"{colorbars}")
        missing = [text for text in texts if text not in _texts(figure)]
        assert not missing, f"the figure of {cell_id} lacks {missing}: {_texts(figure)!r}"


def test_notebook_imports_the_module_and_is_committed_clean():
    """Does the notebook import convolution, hold no solution region and no outputs?"""
    notebook = nbformat.read(SOLUTION, as_version=4)
    code = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code")
    assert re.search(r"^import convolution\b", code, re.MULTILINE), "it must import convolution"
    assert "BEGIN SOLUTION" not in code and "END SOLUTION" not in code
    dirty = [index for index, cell in enumerate(notebook.cells) if cell.cell_type == "code"
             and (cell.outputs or cell.execution_count is not None)]
    assert not dirty, f"{NOTEBOOK} is committed with outputs in cells {dirty}"
    nbformat.validate(notebook)


def _code_cells(notebook: Path) -> list[nbformat.NotebookNode]:
    return [cell for cell in nbformat.read(notebook, as_version=4).cells
            if cell.cell_type == "code"]


def _setup_cell(notebook: Path) -> str:
    """The source of the notebook's first code cell (the setup cell)."""
    return _code_cells(notebook)[0].source


def test_setup_cell_is_the_one_of_the_keras_notebooks_and_editable():
    """Is 01's setup cell that of 02 (the same in 02-04, test_0203_notebooks.py) but for
    ASSIGNMENT, and editable, since the student sets REPOSITORY in it?"""
    cell = _code_cells(SOLUTION)[0]
    assert not cell.metadata.get("nbgrader", {}).get("locked"), "the setup cell must be editable"
    mine = f'ASSIGNMENT = "{ASSIGNMENT}"'
    keras_notebook = ROOT / "solutions" / "02_mlp_baseline" / "02_mlp_baseline.ipynb"
    theirs = 'ASSIGNMENT = "02_mlp_baseline"'
    assert cell.source.count(mine) == 1, f"the setup cell lacks {mine}"
    assert cell.source.replace(mine, theirs) == _setup_cell(keras_notebook), (
        "the setup cell of 01 differs from that of 02-04 (beyond ASSIGNMENT)")


def _run_setup(source: str, cwd: Path, pythonpath: str | None,
               prelude: str = "") -> subprocess.CompletedProcess[str]:
    # without TensorFlow's settings from outside, so it is the cell that quiets TensorFlow
    env = {key: value for key, value in os.environ.items()
           if key not in ("PYTHONPATH", "TF_CPP_MIN_LOG_LEVEL", "TF_ENABLE_ONEDNN_OPTS")}
    if pythonpath is not None:
        env["PYTHONPATH"] = pythonpath
    return subprocess.run([sys.executable, "-c", prelude + source], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_setup_cell_uses_the_installed_course_from_a_copied_folder(tmp_path):
    """From a copy of the released assignment folder outside the repository, with dlcourse
    importable from elsewhere (as after `pip install`), do the setup cell and the imports
    after it use that dlcourse and the copy's convolution.py, with nothing on stderr?"""
    site = tmp_path / "site-packages"
    shutil.copytree(ROOT / "dlcourse", site / "dlcourse",
                    ignore=shutil.ignore_patterns("__pycache__"))
    folder = tmp_path / "work" / ASSIGNMENT
    shutil.copytree(RELEASED, folder, ignore=shutil.ignore_patterns("__pycache__"))
    setup, imports = (cell.source for cell in _code_cells(folder / NOTEBOOK)[:2])
    done = _run_setup(f"{setup}\n{imports}", folder, str(site))
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"convolution.py:  {folder.resolve() / 'convolution.py'}" in done.stdout, done.stdout
    assert f"dlcourse from:   {site / 'dlcourse'}" in done.stdout, done.stdout
    assert done.stderr == "", f"the setup cell wrote to stderr: {done.stderr[-2000:]}"


def test_setup_cell_explains_a_missing_course_package(tmp_path):
    """Without dlcourse installed and outside the repository, does the setup cell raise an
    error that says how to fix it (not StopIteration)?"""
    folder = tmp_path / ASSIGNMENT
    folder.mkdir()
    # dlcourse set to None in sys.modules: `import dlcourse` fails as if it were not installed
    done = _run_setup(_setup_cell(SOLUTION), folder, None,
                      prelude="import sys\nsys.modules['dlcourse'] = None\n")
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("ModuleNotFoundError:"), done.stderr[-2000:]
    assert "pip install" in last and "assignment folder" in last, last
    assert "StopIteration" not in done.stderr
