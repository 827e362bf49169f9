"""Checks of assignment 04: the CIFAR-10 challenge (100 points), graded from the trained model.

The student commits `submission/model.keras`. The grader reads its config.json before any
deserialisation and refuses anything but Keras' built-ins, loads it with `safe_mode=True,
compile=False`, and measures it itself: input and output, parameter budget, the same
architecture as `build_model()` (built in the worker), and test accuracy on all 10,000 test
images with partial credit; `train()` gets a smoke run on 1,024 training images. The
leaderboard (results.json) ranks accuracy, then parameters, then inference time.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from autograder.checks import CheckFailed
from autograder.registry import assignment_of
from course.helpers import keras_archive, keras_checks, keras_feedback
from course.helpers.keras_tasks import build_and_save, train_small_and_save

ASSIGNMENT = assignment_of(__file__)
PARAMETER_BUDGET = int(ASSIGNMENT.budgets["parameters"])
# CPU time, read from outside the worker: load does not change it (a minute of both cores).
SMOKE_CPU_SECONDS = (ASSIGNMENT.budgets["smoke_train_cpu_seconds"]
                     * keras_checks.time_budget_scale())
SMOKE_WALL_SECONDS = 600.0  # the backstop for a train() that hangs without using the CPU
SMOKE_IMAGES = 1024
ACCURACY_FLOOR, ACCURACY_TARGET = 0.60, 0.85  # the baseline reaches about 0.70
SUBMISSION = Path("submission") / "model.keras"
INPUT_SHAPE = (32, 32, 3)  # raw pixels: the advice in translated Keras errors names it
HINT_SUBMIT = ("train your model (the notebook, or Colab, or any GPU), save it with "
               "model.save('submission/model.keras') in this assignment's folder, and commit "
               "that file")

_models: dict[Any, Any] = {}


def _submission(student: Any) -> Path:
    path = student.path.parent / SUBMISSION
    if not path.is_file():
        raise CheckFailed(f"there is no {SUBMISSION} next to {student.path.name}", HINT_SUBMIT)
    return path


def _submitted_model(student: Any) -> Any:
    """The submitted model, checked and loaded safely once per grading."""
    path = _submission(student)
    key = (str(path), path.stat().st_mtime_ns)
    return keras_checks.cached(_models, key, lambda: keras_archive.load_safely(path))


def _cifar10() -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    from dlcourse.data import load_cifar10

    return keras_checks.cached(_models, "cifar10", load_cifar10)


def _one_hot(labels: np.ndarray) -> np.ndarray:
    return np.eye(10, dtype=np.float32)[np.asarray(labels).reshape(-1)]


@pytest.mark.points(5)
def test_submission_exists(student):
    """submission/model.keras is committed next to challenge.py."""
    _submission(student)


@pytest.mark.points(10)
def test_submission_holds_only_keras_builtins(student):
    """The model file holds Keras' built-in layers and ops only (read before loading)."""
    keras_archive.check_safe(_submission(student))


@pytest.mark.points(5)
def test_submission_loads_safely(student):
    """The model loads with safe_mode=True and compile=False."""
    _submitted_model(student)


@pytest.mark.points(10)
def test_input_and_output(student, seed):
    """The model takes (32, 32, 3) raw pixels in [0, 255] and outputs 10 class probabilities."""
    model = _submitted_model(student)
    shapes = [tuple(t.shape) for t in model.inputs]
    if shapes != [(None, 32, 32, 3)]:
        raise CheckFailed(f"the model should take one input of shape (None, 32, 32, 3), got "
                          f"{shapes}", "keras.Input(shape=(32, 32, 3)), raw pixels: normalise "
                                       "inside the model")
    pixels = np.random.default_rng([seed, 4]).integers(0, 256, (16, 32, 32, 3))
    keras_checks.check_probabilities(model, pixels.astype(np.float32), what="the model",
                                     hint="end with a softmax over the 10 classes")


@pytest.mark.points(10)
def test_parameter_budget(student, score):
    """The model has at most 1,000,000 parameters, trainable or not."""
    model = _submitted_model(student)
    keras_checks.check_parameter_budget(model, PARAMETER_BUDGET, what="the submitted model")
    score.set(1.0, f"{model.count_params():,} parameters (budget {PARAMETER_BUDGET:,})")


def architecture(model: Any) -> list[tuple[str, tuple]]:
    """Each layer's class and output shape, nested models expanded, in order."""
    import keras

    found = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            found += architecture(layer)
        else:
            found.append((type(layer).__name__, tuple(layer.output.shape)))
    return found


@pytest.mark.points(10)
@pytest.mark.timeout(180)
def test_architecture_matches_build_model(student, tmp_path_factory):
    """The submitted model has the architecture build_model() builds (same layers, shapes)."""
    submitted = _submitted_model(student)
    data = keras_feedback.run(student, build_and_save, "build_model", timeout=120,
                              doing="build_model()", input_shape=INPUT_SHAPE)
    built = keras_checks.saved_model(data, tmp_path_factory.mktemp("built") / "built.keras")
    got, want = architecture(submitted), architecture(built)
    if got != want:
        first = next((i for i, (g, w) in enumerate(zip(got, want, strict=False)) if g != w),
                     min(len(got), len(want)))
        raise CheckFailed(
            f"the submitted model and build_model() differ from layer {first + 1}: "
            f"submitted {got[first:first + 2]}, build_model() {want[first:first + 2]} "
            f"({len(got)} vs {len(want)} layers)",
            "train the model build_model() returns and save that one; commit challenge.py "
            "and submission/model.keras together")


@pytest.mark.points(10)
@pytest.mark.timeout(300)
def test_train_smoke_run(student, seed, tmp_path_factory, score):
    """train() on 1,024 training images uses at most 2 CPU-minutes and lowers the loss."""
    (x_train, y_train), _ = _cifar10()
    x, labels = x_train[:SMOKE_IMAGES], y_train[:SMOKE_IMAGES]
    try:
        before, after = keras_feedback.run(
            student, train_small_and_save, "build_model", x, labels, seed=seed,
            timeout=SMOKE_WALL_SECONDS, cpu_timeout=SMOKE_CPU_SECONDS,
            doing="build_model() then train(model, x, y)", input_shape=INPUT_SHAPE)
    except TimeoutError as exc:
        raise CheckFailed(f"train() on {SMOKE_IMAGES:,} images did not finish: {exc}",
                          "fewer epochs: train() must scale with the data it is given") from None
    seconds = student.last_call_cpu_seconds
    folder = tmp_path_factory.mktemp("smoke")
    y = _one_hot(labels)
    pixels = x.astype(np.float32)
    _, loss_before = keras_checks.accuracy_and_loss(
        _loaded(before, folder / "before.keras"), pixels, y)
    _, loss_after = keras_checks.accuracy_and_loss(
        _loaded(after, folder / "after.keras"), pixels, y)
    if seconds > SMOKE_CPU_SECONDS:  # reachable when the limit fired between two polls
        raise CheckFailed(f"building and training on {SMOKE_IMAGES:,} images used "
                          f"{seconds:.0f} s of CPU time; the limit is {SMOKE_CPU_SECONDS:.0f} s",
                          "train() must scale with the data: fewer epochs on small data")
    if not loss_after < loss_before:
        raise CheckFailed(f"train() did not lower the cross-entropy on the {SMOKE_IMAGES:,} "
                          f"images: {loss_before:.3f} -> {loss_after:.3f}",
                          "check the learning rate and that train() fits the x and y given")
    score.set(1.0, f"loss {loss_before:.3f} -> {loss_after:.3f}; {seconds:.0f} s of CPU time "
                   f"(limit {SMOKE_CPU_SECONDS:.0f} s)")


def _loaded(data: Any, path: Path) -> Any:
    if not isinstance(data, bytes):
        raise CheckFailed("the worker did not send back a saved model", keras_archive.HINT)
    path.write_bytes(data)
    return keras_archive.load_safely(path)


@pytest.mark.points(40)
@pytest.mark.timeout(600)
def test_test_accuracy(student, score, leaderboard):
    """Test accuracy on all 10,000 test images: full points at 85%, none at 60% or below."""
    model = _submitted_model(student)
    keras_checks.check_parameter_budget(model, PARAMETER_BUDGET, what="the submitted model")
    _, (x_test, y_test) = _cifar10()
    start = time.perf_counter()
    # Keras' own predict compiles the model once: for one large model it is about 40% faster
    # than the plain calls of keras_checks.predict (made for the many small models of 02/03)
    probabilities = model.predict(x_test.astype(np.float32), batch_size=500, verbose=0)
    milliseconds = 1000 * (time.perf_counter() - start) / len(x_test)
    accuracy = float(np.mean(np.argmax(probabilities, axis=1) == y_test.reshape(-1)))
    leaderboard.add("Accuracy", round(accuracy, 4), "desc")
    leaderboard.add("Parameters", model.count_params(), "asc")
    leaderboard.add("ms per image", round(milliseconds, 3), "asc")
    fraction = keras_checks.linear_credit(accuracy, ACCURACY_FLOOR, ACCURACY_TARGET)
    message = (f"test accuracy {accuracy:.2%} on 10,000 images (0 points at "
               f"{ACCURACY_FLOOR:.0%}, full points at {ACCURACY_TARGET:.0%}); "
               f"{model.count_params():,} parameters; {milliseconds:.2f} ms per image")
    if fraction == 0.0:
        raise CheckFailed(message, "train longer, or improve the model: see the README's tips")
    score.set(fraction, message)
