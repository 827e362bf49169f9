"""Does a Keras check decide from what the grader measures, never from what the worker says?

A fake `student` stands for the worker: it returns what a patched task could return (a model
trained elsewhere, a made-up training time), and the checks must judge the grader's own clock
and the very model that is evaluated.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras
import pytest

from autograder.checks import CheckFailed
from course.helpers import keras_checks


def _model_bytes(tmp_path: Path, units: int) -> bytes:
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(units, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    path = tmp_path / f"model-{units}.keras"
    model.save(path)
    return path.read_bytes()


class PatchedWorker:
    """A worker whose training task was replaced: it claims 0.5 s, the call took 500 s."""

    def __init__(self, model: bytes) -> None:
        self.path = Path("cnn.py")
        self.model = model
        self.last_call_seconds = 500.0

    def run(self, task: Any, *args: Any, **kwargs: Any) -> dict:
        return {"model": self.model, "train_seconds": 0.5, "returned": "History",
                "returned_history": True}


def test_training_time_is_the_graders_clock(tmp_path, real_data_dir):
    """When the worker claims 0.5 s for a training that took 500 s by the grader's clock, is
    the training charged about 500 s and over its budget?"""
    info = keras_checks.trained_model(
        {}, PatchedWorker(_model_bytes(tmp_path, 8)), lambda name: tmp_path, "build_cnn",
        channels_last=True, seed=0, budget_seconds=420, limit_seconds=540,
        overhead_allowance=20)
    assert info["charged_seconds"] == pytest.approx(480)
    with pytest.raises(CheckFailed, match="the time budget is 420 s"):
        keras_checks.check_within_budget(info)


def test_the_evaluated_model_must_keep_the_parameter_budget(tmp_path):
    """When the trained model is bigger than the one the structure checks saw, does the
    accuracy check refuse it before evaluating it?"""
    path = tmp_path / "trained.keras"
    path.write_bytes(_model_bytes(tmp_path, 512))  # 407,050 parameters: over 250,000
    info = {"path": path, "charged_seconds": 10.0, "budget_seconds": 420.0}
    def within_budget(model: Any) -> None:  # what the check of 03 passes
        keras_checks.check_parameter_budget(model, 250_000, what="the trained build_cnn()")

    with pytest.raises(CheckFailed, match="the trained build_cnn\\(\\) has 407,050 parameters"):
        keras_checks.accuracy_credit(info, channels_last=True, floor=0.88, target=0.91,
                                     hint="", check_model=within_budget)
