"""Does the 01_kernel_convolution notebook run headless (its release: test_release.py)?"""

from __future__ import annotations

import re
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
ASSIGNMENT = "01_kernel_convolution"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"
SOLUTION = ROOT / "solutions" / ASSIGNMENT / NOTEBOOK
RUN_LIMIT_S = 60


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_solution_notebook_runs_headless(real_data_dir, monkeypatch):
    """Does every cell of the solution notebook run without error, within a minute?"""
    notebook = nbformat.read(SOLUTION, as_version=4)
    monkeypatch.setenv("DLCOURSE_DATA_DIR", str(real_data_dir))
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    client = NotebookClient(notebook, timeout=RUN_LIMIT_S, kernel_name="python3",
                            resources={"metadata": {"path": str(SOLUTION.parent)}})
    start = time.perf_counter()
    client.execute()  # raises CellExecutionError, naming the cell, on any error
    seconds = time.perf_counter() - start
    errors = [output for cell in notebook.cells if cell.cell_type == "code"
              for output in cell.outputs if output.output_type == "error"]
    assert not errors, f"{NOTEBOOK} recorded errors: {errors}"
    assert seconds < RUN_LIMIT_S, f"{NOTEBOOK} took {seconds:.0f} s (limit {RUN_LIMIT_S} s)"
    text = "".join(output.get("text", "") for cell in notebook.cells
                   if cell.cell_type == "code" for output in cell.outputs)
    assert "max abs error vs Keras" in text, "the conv2d comparison with Keras did not print"
    images = sum("image/png" in output.get("data", {}) for cell in notebook.cells
                 if cell.cell_type == "code" for output in cell.outputs)
    assert images >= 5, f"expected the sample, kernel and feature-map figures, got {images}"


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
