"""Do the 02, 03 and 04 notebooks run headless (their release is tested in test_release.py)?

The notebooks run with DLCOURSE_FAST=1: 2,000 training and 1,000 test images, one epoch of
model.fit per model (see the notebooks' Setup section), so each takes well under a minute.
The data comes from the `real_data_dir` fixture in conftest.py (skip without
$DLCOURSE_DATA_DIR, fail instead when DLCOURSE_REQUIRE_DATA=1).
"""

import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = {"02_mlp_baseline": "mlp", "03_fashion_cnn": "cnn", "04_cifar10_challenge": "challenge"}
REFERENCE_MODEL = ROOT / "solutions" / "04_cifar10_challenge" / "submission" / "model.keras"
# Figures each notebook draws: 02 samples, curves, confusion matrix, mistakes; 03 the same with
# two sets of curves, plus filters, the input image and its feature maps.
# 04: samples, augmentation, curves, per-class accuracy, confusion matrix, mistakes, and the
# comparison with the submitted model when there is one.
FIGURES = {"02_mlp_baseline": 4, "03_fashion_cnn": 8,
           "04_cifar10_challenge": 7 if REFERENCE_MODEL.is_file() else 6}
# A line each notebook prints at its end: the test accuracy (02), the comparison table (03).
EXPECTED_TEXT = {"02_mlp_baseline": "test accuracy", "03_fashion_cnn": "| your CNN",
                 "04_cifar10_challenge": "baseline test accuracy"}
CELL_TIMEOUT_S = 300
RUN_LIMIT_S = 240  # FAST mode takes well under a minute; full training would take many


def notebook_path(top: str, assignment: str) -> Path:
    return ROOT / top / assignment / f"{assignment}.ipynb"


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("assignment", sorted(NOTEBOOKS))
def test_solution_notebook_runs_headless_in_fast_mode(assignment, real_data_dir, monkeypatch):
    """Does every cell of the solution notebook run without error in FAST mode?"""
    path = notebook_path("solutions", assignment)
    notebook = nbformat.read(path, as_version=4)
    monkeypatch.setenv("DLCOURSE_FAST", "1")
    monkeypatch.setenv("DLCOURSE_DATA_DIR", str(real_data_dir))
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
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
    errors = [
        output
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.output_type == "error"
    ]
    assert not errors, f"{path.name} recorded errors: {errors}"
    assert seconds < RUN_LIMIT_S, f"{path.name} took {seconds:.0f} s in FAST mode"
    outputs = [
        output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs
    ]
    figures = sum("image/png" in output.get("data", {}) for output in outputs)
    assert figures == FIGURES[assignment], (
        f"{path.name} drew {figures} figures, expected {FIGURES[assignment]}"
    )
    text = "".join(output.get("text", "") for output in outputs)
    assert EXPECTED_TEXT[assignment] in text, (
        f"{path.name} did not print {EXPECTED_TEXT[assignment]!r}"
    )


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
