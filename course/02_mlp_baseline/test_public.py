"""Checks of assignment 02: an MLP baseline on Fashion-MNIST (100 points).

Tiers:
- preprocessing (20): shapes, dtypes, scaling, one-hot labels, inputs left unchanged;
- structure (35): the model built by `build_mlp` is saved by the worker and loaded here with
  `safe_mode=True`; its layer signature (what each layer computes: Sequential and Functional
  models are equal, an InputLayer is not a layer, `Dense(..., activation="softmax")` equals
  `Dense(...)` + `Activation("softmax")`), output shapes, parameter count and compile settings;
- behaviour (15): valid probabilities, and Keras' `fit` overfits 256 images with the model;
- performance (30): the student's `train` on all 60,000 training images (preprocessed by the
  grader), within a time budget, leaving its x and y unchanged; test accuracy on all 10,000
  test images, computed here, with partial credit between a floor and a target.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from autograder.checks import CheckFailed
from autograder.registry import assignment_of
from course.helpers import keras_checks, keras_feedback
from course.helpers.fashion_data import reference_preprocess

ASSIGNMENT = assignment_of(__file__)
# The budget and its reasons are in course.toml.
TIME_BUDGET_SECONDS = ASSIGNMENT.budgets["train_seconds"] * keras_checks.time_budget_scale()
# Charged time = the grader's clock around the whole training task minus this allowance
# for sending the data, building and saving the model.
OVERHEAD_ALLOWANCE_SECONDS = 20.0 * keras_checks.time_budget_scale()
TRAIN_LIMIT_SECONDS = TIME_BUDGET_SECONDS + 120.0  # then it is killed
ACCURACY_FLOOR, ACCURACY_TARGET = 0.84, 0.88  # reference: 89.31% to 89.75% over 5 seeds
OVERFIT_IMAGES, OVERFIT_EPOCHS, OVERFIT_BATCH, OVERFIT_ACCURACY = 256, 20, 32, 0.95

EXPECTED_SIGNATURE = [
    {"type": "Dense", "units": 512, "activation": "relu"},
    {"type": "Dropout", "rate": 0.2},
    {"type": "Dense", "units": 512, "activation": "relu"},
    {"type": "Dropout", "rate": 0.2},
    {"type": "Dense", "units": 10, "activation": "softmax"},
]
EXPECTED_SHAPES = [(None, 512), (None, 512), (None, 512), (None, 512), (None, 10)]
EXPECTED_PARAMETERS = 669_706

HINT_SHAPES = "x is (N, 784) float32 (flatten each 28 x 28 image), y is (N, 10) float32"
HINT_SCALE = "divide the uint8 pixels by 255 after converting them to float32"
HINT_ONE_HOT = "y[i] is all zeros except a 1 at column labels[i] (keras.utils.to_categorical)"
HINT_MODEL = ("for each entry of hidden_units: Dense(units, activation='relu') then "
              "Dropout(dropout); then Dense(num_classes, activation='softmax')")

_models: dict[Any, Any] = {}
_trained: dict[Any, Any] = {}


def _batch(seed: int, n: int = 50) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng([seed, 2])
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    images[0] = 0
    images[1] = 255  # the extremes must map to exactly 0 and 1
    labels = rng.permutation(np.arange(n) % 10).astype(np.uint8)
    return images, labels


def _model(student: Any, tmp_path_factory: pytest.TempPathFactory, **kwargs: Any) -> Any:
    """build_mlp(**kwargs) run in the worker, saved, and loaded here (once per session)."""
    return keras_checks.built_model(_models, student, tmp_path_factory.mktemp, "build_mlp",
                                   **kwargs)


def _train(student: Any, tmp_path_factory: pytest.TempPathFactory, seed: int) -> dict:
    """build_mlp() trained by the student's train() in the worker (once per session)."""
    return keras_checks.trained_model(
        _trained, student, tmp_path_factory.mktemp, "build_mlp", channels_last=False,
        seed=seed, budget_seconds=TIME_BUDGET_SECONDS, limit_seconds=TRAIN_LIMIT_SECONDS,
        overhead_allowance=OVERHEAD_ALLOWANCE_SECONDS)


# ---------------------------------------------------------------------------------------------
# Preprocessing (20)
# ---------------------------------------------------------------------------------------------

@pytest.mark.points(5)
@pytest.mark.timeout(60)
def test_preprocess_shapes_and_dtypes(student, seed):
    """preprocess returns x (N, 784) float32 and y (N, 10) float32."""
    images, labels = _batch(seed)
    result = student.preprocess(images, labels)
    if not (isinstance(result, tuple | list) and len(result) == 2):
        raise CheckFailed(f"preprocess should return a tuple (x, y), got "
                          f"{type(result).__name__}", HINT_SHAPES)
    _, y_bugs = keras_feedback.preprocess_bugs(images, labels, channels_last=False)
    for name, value, shape in (("x", result[0], (50, 784)), ("y", result[1], (50, 10))):
        if not isinstance(value, np.ndarray):
            raise CheckFailed(f"{name} should be a NumPy array, got {type(value).__name__}",
                              HINT_SHAPES)
        if value.shape != shape or value.dtype != np.float32:
            bug = keras_feedback.matching_bug(value, y_bugs if name == "y" else [], atol=0)
            raise CheckFailed((f"{bug}.\n" if bug else "")
                              + f"{name} should have shape {shape} and dtype float32, got "
                              f"shape {value.shape} and dtype {value.dtype}", HINT_SHAPES)


def _preprocessed(student: Any, seed: int) -> tuple[Any, Any, list[str], tuple, tuple]:
    """preprocess on the check's batch: x, y, the inputs it modified, the reference (x, y) and
    the known bugs' (x, y)."""
    images, labels = _batch(seed)
    result, after = keras_checks.preprocess_and_inputs(student, images, labels,
                                                      input_shape=(784,))
    if not (isinstance(result, tuple | list) and len(result) == 2):
        raise CheckFailed(f"preprocess should return a tuple (x, y), got "
                          f"{type(result).__name__}", HINT_SHAPES)
    return (result[0], result[1], keras_checks.modified_inputs(after, images, labels),
            reference_preprocess(images, labels, channels_last=False),
            keras_feedback.preprocess_bugs(images, labels, channels_last=False))


@pytest.mark.points(5)
@pytest.mark.timeout(60)
def test_preprocess_scales_and_flattens(student, seed):
    """preprocess flattens each image row by row and scales pixels to [0, 1]."""
    x, _, modified, (want, _), (bugs, _) = _preprocessed(student, seed)
    keras_feedback.assert_close_or_named(
        x, want, bugs, atol=1e-6, what="x = preprocess(images, labels)[0]",
        hint=HINT_SCALE + "; flatten with images.reshape(N, 784)", modified_inputs=modified)


@pytest.mark.points(5)
@pytest.mark.timeout(60)
def test_preprocess_one_hot_labels(student, seed):
    """preprocess one-hot encodes the labels."""
    _, y, modified, (_, want), (_, bugs) = _preprocessed(student, seed)
    keras_feedback.assert_close_or_named(y, want, bugs, atol=0,
                                         what="y = preprocess(images, labels)[1]",
                                         hint=HINT_ONE_HOT, modified_inputs=modified)


@pytest.mark.points(5)
@pytest.mark.timeout(60)
def test_preprocess_leaves_inputs_unchanged(student, seed):
    """preprocess does not modify the images or labels it is given."""
    keras_checks.check_preprocess_leaves_inputs(student, *_batch(seed),
                                               channels_last=False)


# ---------------------------------------------------------------------------------------------
# Structure (35)
# ---------------------------------------------------------------------------------------------

@pytest.mark.points(8)
@pytest.mark.timeout(120)
def test_build_mlp_output_shapes(student, tmp_path_factory):
    """build_mlp(): input (None, 784) and the output shape of every layer."""
    model = _model(student, tmp_path_factory)
    inputs = [tuple(t.shape) for t in model.inputs]
    if inputs != [(None, 784)]:
        raise CheckFailed(f"the model should take one input of shape (None, 784), got {inputs}",
                          "start with keras.Input(shape=(784,)): preprocess flattens the images")
    keras_checks.check_output_shapes(keras_checks.layer_signature(model), EXPECTED_SHAPES,
                                    what="build_mlp()", hint=HINT_MODEL)


@pytest.mark.points(7)
@pytest.mark.timeout(120)
def test_build_mlp_parameter_count(student, tmp_path_factory):
    """build_mlp() has exactly 669,706 parameters."""
    model = _model(student, tmp_path_factory)
    count = int(model.count_params())
    if count != EXPECTED_PARAMETERS:
        raise CheckFailed(f"build_mlp() should have {EXPECTED_PARAMETERS:,} parameters, got "
                          f"{count:,}", HINT_MODEL + "; every Dense layer has a bias")


@pytest.mark.points(10)
@pytest.mark.timeout(120)
def test_build_mlp_layer_signature(student, tmp_path_factory):
    """build_mlp() layers: (Dense(512, relu), Dropout(0.2)) x 2, Dense(10, softmax)."""
    model = _model(student, tmp_path_factory)
    keras_checks.check_signature(keras_checks.layer_signature(model), EXPECTED_SIGNATURE,
                                what="build_mlp()", hint=HINT_MODEL)


@pytest.mark.points(5)
@pytest.mark.timeout(120)
def test_build_mlp_compile_settings(student, tmp_path_factory):
    """build_mlp() is compiled with Adam, categorical cross-entropy and accuracy."""
    model = _model(student, tmp_path_factory)
    settings = keras_checks.compile_settings(model)
    hint = ("model.compile(optimizer='adam', loss='categorical_crossentropy', "
            "metrics=['accuracy'])")
    if settings["optimizer"] != "Adam":
        raise CheckFailed(f"the optimizer should be Adam, got {settings['optimizer']}", hint)
    loss = settings["loss"]
    if (loss["name"] not in keras_checks.CATEGORICAL_CROSSENTROPY or loss["from_logits"]
            or loss["label_smoothing"]):
        bug = keras_feedback.loss_bug(settings, keras_checks.last_activation(model))
        raise CheckFailed((f"{bug}.\n" if bug else "")
                          + f"the loss should be categorical cross-entropy on probabilities "
                          f"(from_logits=False, no label smoothing), got {loss}", hint)
    if not set(settings["metrics"]) & keras_checks.ACCURACY_METRICS:
        raise CheckFailed(f"the metrics should include accuracy, got {settings['metrics']}",
                          hint)


# ---------------------------------------------------------------------------------------------
# Behaviour (15)
# ---------------------------------------------------------------------------------------------

@pytest.mark.points(5)
@pytest.mark.timeout(120)
def test_mlp_outputs_probabilities(student, tmp_path_factory, seed):
    """build_mlp() outputs one probability distribution over the 10 classes per image."""
    x = np.random.default_rng([seed, 7]).random((32, 784), dtype=np.float32)
    keras_checks.check_probabilities(_model(student, tmp_path_factory), x, what="build_mlp()",
                                    hint="the last layer needs a softmax activation",
                                    dtype=np.float32)


@pytest.mark.points(10)
@pytest.mark.timeout(300)
def test_mlp_overfits_a_small_batch(student, tmp_path_factory, seed, score):
    """build_mlp() with its compile settings learns 256 training images almost by heart."""
    summary = keras_checks.check_learns_small_batch(
        student, tmp_path_factory.mktemp, "build_mlp", channels_last=False,
        images=OVERFIT_IMAGES, epochs=OVERFIT_EPOCHS, batch_size=OVERFIT_BATCH, seed=seed,
        min_accuracy=OVERFIT_ACCURACY,
        hint="check the layers (ReLU hidden layers, softmax output), the loss (categorical "
             "cross-entropy) and the optimizer (Adam, default learning rate)")
    score.set(1.0, summary)


# ---------------------------------------------------------------------------------------------
# Performance (30)
# ---------------------------------------------------------------------------------------------

@pytest.mark.points(10)
@pytest.mark.timeout(TRAIN_LIMIT_SECONDS + 120)
def test_train_returns_history_within_budget(student, tmp_path_factory, seed, score):
    """train() on the 60,000 training images returns a History in budget, x and y unchanged."""
    info = _train(student, tmp_path_factory, seed)
    score.set(1.0, keras_checks.check_history_within_budget(info))


@pytest.mark.points(20)
@pytest.mark.timeout(TRAIN_LIMIT_SECONDS + 120)
def test_test_accuracy_after_training(student, tmp_path_factory, seed, score):
    """Test accuracy of build_mlp() after train(): full points at 88%, none at 84% or below."""
    info = _train(student, tmp_path_factory, seed)
    score.set(*keras_checks.accuracy_credit(
        info, channels_last=False, floor=ACCURACY_FLOOR, target=ACCURACY_TARGET,
        hint="train for more epochs, check the learning rate, and check that train() fits "
             "the x and y it is given", check_model=_check_is_the_mlp))


def _check_is_the_mlp(model: Any) -> None:
    """The evaluated model must be the MLP of the structure checks, not another one."""
    keras_checks.check_signature(keras_checks.layer_signature(model), EXPECTED_SIGNATURE,
                                 what="the trained build_mlp()", hint=HINT_MODEL)
