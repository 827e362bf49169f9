"""Checks of assignment 03: convolutional networks on Fashion-MNIST (100 points).

Tiers:
- preprocessing (15): shapes, dtypes, scaling, channel axis, one-hot labels, inputs unchanged;
- structure (40): the models are built and saved by the worker and loaded here with
  `safe_mode=True`. build_simple_cnn (25): layer signature (what each layer computes:
  Sequential and Functional models are equal, an InputLayer is not a layer, an activation
  given as a separate layer is merged into the Dense/Conv2D before it), output shapes layer by
  layer, exact parameter count, compile settings. build_cnn (15): parameter budget, input and
  output, softmax output, loss and metric;
- behaviour (15): valid probabilities; Keras' `fit` on 256 training images makes the simple
  CNN learn them by heart and the student's CNN learn them well;
- performance (30): the student's `train` on build_cnn() with all 60,000 training images
  (preprocessed by the grader), within a time budget, leaving its x and y unchanged; test
  accuracy on all 10,000 test images, computed here, with partial credit between a floor and
  a target.
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
ACCURACY_FLOOR, ACCURACY_TARGET = 0.88, 0.91  # reference: 91.77% to 92.22% over 5 seeds
PARAMETER_BUDGET = 250_000
SMALL_IMAGES, SMALL_BATCH = 256, 32
SIMPLE_EPOCHS, SIMPLE_ACCURACY = 15, 0.95  # the simple CNN learns 256 images by heart
OWN_EPOCHS, OWN_ACCURACY = 20, 0.85  # BatchNormalization statistics recomputed first

EXPECTED_SIMPLE_SIGNATURE = [
    {"type": "Conv2D", "filters": 32, "kernel_size": (3, 3), "strides": (1, 1),
     "padding": "valid", "activation": "relu"},
    {"type": "MaxPooling2D", "pool_size": (2, 2), "strides": (2, 2), "padding": "valid"},
    {"type": "Flatten"},
    {"type": "Dense", "units": 128, "activation": "relu"},
    {"type": "Dense", "units": 10, "activation": "softmax"},
]
EXPECTED_SIMPLE_SHAPES = [(None, 26, 26, 32), (None, 13, 13, 32), (None, 5408), (None, 128),
                          (None, 10)]
EXPECTED_SIMPLE_PARAMETERS = 693_962

HINT_SHAPES = "x is (N, 28, 28, 1) float32 (a trailing channel axis), y is (N, 10) float32"
HINT_VALUES = ("divide the uint8 pixels by 255 after converting them to float32; y[i] is all "
               "zeros except a 1 at column labels[i] (keras.utils.to_categorical)")
HINT_SIMPLE = ("Conv2D(32, (3, 3), activation='relu') with the default stride 1 and 'valid' "
               "padding, MaxPooling2D((2, 2)), Flatten(), Dense(128, activation='relu'), "
               "Dense(10, activation='softmax')")
HINT_COMPILE = ("model.compile(optimizer='adam', loss='categorical_crossentropy', "
                "metrics=['accuracy'])")

_models: dict[Any, Any] = {}
_trained: dict[Any, Any] = {}


def _batch(seed: int, n: int = 50) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng([seed, 3])
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    images[0] = 0
    images[1] = 255  # the extremes must map to exactly 0 and 1
    labels = rng.permutation(np.arange(n) % 10).astype(np.uint8)
    return images, labels


def _model(student: Any, tmp_path_factory: pytest.TempPathFactory, builder: str) -> Any:
    """builder() run in the worker, saved, and loaded here (once per session)."""
    return keras_checks.built_model(_models, student, tmp_path_factory.mktemp, builder)


def _train(student: Any, tmp_path_factory: pytest.TempPathFactory, seed: int) -> dict:
    """build_cnn() trained by the student's train() in the worker (once per session)."""
    return keras_checks.trained_model(
        _trained, student, tmp_path_factory.mktemp, "build_cnn", channels_last=True,
        seed=seed, budget_seconds=TIME_BUDGET_SECONDS, limit_seconds=TRAIN_LIMIT_SECONDS,
        overhead_allowance=OVERHEAD_ALLOWANCE_SECONDS)


def _check_compiled_for_probabilities(model: Any, settings: dict, *, what: str,
                                      hint: str) -> None:
    loss = settings["loss"]
    if loss["name"] not in keras_checks.CATEGORICAL_CROSSENTROPY or loss["from_logits"]:
        bug = keras_feedback.loss_bug(settings, keras_checks.last_activation(model))
        raise CheckFailed((f"{what}: {bug}.\n" if bug else "")
                          + f"{what}: the loss should be categorical cross-entropy on "
                          f"probabilities (from_logits=False), got {loss}", hint)
    if not set(settings["metrics"]) & keras_checks.ACCURACY_METRICS:
        raise CheckFailed(f"{what}: the metrics should include accuracy, got "
                          f"{settings['metrics']}", hint)


# ---------------------------------------------------------------------------------------------
# Preprocessing (15)
# ---------------------------------------------------------------------------------------------

@pytest.mark.points(5)
@pytest.mark.timeout(60)
def test_preprocess_shapes_and_dtypes(student, seed):
    """preprocess returns x (N, 28, 28, 1) float32 and y (N, 10) float32."""
    images, labels = _batch(seed)
    result = student.preprocess(images, labels)
    if not (isinstance(result, tuple | list) and len(result) == 2):
        raise CheckFailed(f"preprocess should return a tuple (x, y), got "
                          f"{type(result).__name__}", HINT_SHAPES)
    x_bugs, y_bugs = keras_feedback.preprocess_bugs(images, labels, channels_last=False)
    x_bugs = [(f"{description}; and x needs a trailing channel axis: (N, 28, 28, 1)",
               value.reshape(-1, 28, 28)) for description, value in x_bugs[:1]]
    x_bugs.append(("x has no channel axis: add one with np.expand_dims(x, -1)",
                   reference_preprocess(images, labels, channels_last=True)[0][..., 0]))
    for name, value, shape in (("x", result[0], (50, 28, 28, 1)), ("y", result[1], (50, 10))):
        if not isinstance(value, np.ndarray):
            raise CheckFailed(f"{name} should be a NumPy array, got {type(value).__name__}",
                              HINT_SHAPES)
        if value.shape != shape or value.dtype != np.float32:
            bug = keras_feedback.matching_bug(value, y_bugs if name == "y" else x_bugs,
                                              atol=1e-6)
            raise CheckFailed((f"{bug}.\n" if bug else "")
                              + f"{name} should have shape {shape} and dtype float32, got "
                              f"shape {value.shape} and dtype {value.dtype}", HINT_SHAPES)


@pytest.mark.points(5)
@pytest.mark.timeout(60)
def test_preprocess_values(student, seed):
    """preprocess scales pixels to [0, 1] (channels-last) and one-hot encodes the labels."""
    images, labels = _batch(seed)
    result, after = keras_checks.preprocess_and_inputs(student, images, labels,
                                                      input_shape=(28, 28, 1))
    if not (isinstance(result, tuple | list) and len(result) == 2):
        raise CheckFailed(f"preprocess should return a tuple (x, y), got "
                          f"{type(result).__name__}", HINT_SHAPES)
    want_x, want_y = reference_preprocess(images, labels, channels_last=True)
    x_bugs, y_bugs = keras_feedback.preprocess_bugs(images, labels, channels_last=True)
    modified = keras_checks.modified_inputs(after, images, labels)
    keras_feedback.assert_close_or_named(result[0], want_x, x_bugs, atol=1e-6,
                                         what="x = preprocess(images, labels)[0]",
                                         hint=HINT_VALUES, modified_inputs=modified)
    keras_feedback.assert_close_or_named(result[1], want_y, y_bugs, atol=0,
                                         what="y = preprocess(images, labels)[1]",
                                         hint=HINT_VALUES, modified_inputs=modified)


@pytest.mark.points(5)
@pytest.mark.timeout(60)
def test_preprocess_leaves_inputs_unchanged(student, seed):
    """preprocess does not modify the images or labels it is given."""
    keras_checks.check_preprocess_leaves_inputs(student, *_batch(seed),
                                               channels_last=True)


# ---------------------------------------------------------------------------------------------
# Structure: build_simple_cnn (25)
# ---------------------------------------------------------------------------------------------

@pytest.mark.points(7)
@pytest.mark.timeout(120)
def test_simple_cnn_output_shapes(student, tmp_path_factory):
    """build_simple_cnn(): input (None, 28, 28, 1) and the output shape of every layer."""
    model = _model(student, tmp_path_factory, "build_simple_cnn")
    inputs = [tuple(t.shape) for t in model.inputs]
    if inputs != [(None, 28, 28, 1)]:
        raise CheckFailed(f"the model should take one input of shape (None, 28, 28, 1), got "
                          f"{inputs}", "start with keras.Input(shape=(28, 28, 1))")
    keras_checks.check_output_shapes(keras_checks.layer_signature(model), EXPECTED_SIMPLE_SHAPES,
                                    what="build_simple_cnn()", hint=HINT_SIMPLE)


@pytest.mark.points(6)
@pytest.mark.timeout(120)
def test_simple_cnn_parameter_count(student, tmp_path_factory):
    """build_simple_cnn() has exactly 693,962 parameters."""
    count = int(_model(student, tmp_path_factory, "build_simple_cnn").count_params())
    if count != EXPECTED_SIMPLE_PARAMETERS:
        raise CheckFailed(f"build_simple_cnn() should have {EXPECTED_SIMPLE_PARAMETERS:,} "
                          f"parameters, got {count:,}", HINT_SIMPLE)


@pytest.mark.points(8)
@pytest.mark.timeout(120)
def test_simple_cnn_layer_signature(student, tmp_path_factory):
    """build_simple_cnn() layers: Conv2D(32, 3x3, relu), MaxPooling2D(2x2), Flatten, Dense."""
    model = _model(student, tmp_path_factory, "build_simple_cnn")
    keras_checks.check_signature(keras_checks.layer_signature(model), EXPECTED_SIMPLE_SIGNATURE,
                                what="build_simple_cnn()", hint=HINT_SIMPLE)


@pytest.mark.points(4)
@pytest.mark.timeout(120)
def test_simple_cnn_compile_settings(student, tmp_path_factory):
    """build_simple_cnn() is compiled with Adam, categorical cross-entropy and accuracy."""
    model = _model(student, tmp_path_factory, "build_simple_cnn")
    settings = keras_checks.compile_settings(model)
    if settings["optimizer"] != "Adam":
        raise CheckFailed(f"the optimizer should be Adam, got {settings['optimizer']}",
                          HINT_COMPILE)
    if settings["loss"]["label_smoothing"]:
        raise CheckFailed(f"the loss should be plain categorical cross-entropy, got "
                          f"{settings['loss']}", HINT_COMPILE)
    _check_compiled_for_probabilities(model, settings, what="build_simple_cnn()",
                                      hint=HINT_COMPILE)


# ---------------------------------------------------------------------------------------------
# Structure: build_cnn (15)
# ---------------------------------------------------------------------------------------------

@pytest.mark.points(8)
@pytest.mark.timeout(120)
def test_own_cnn_parameter_budget(student, tmp_path_factory, score):
    """build_cnn() has at most 250,000 parameters."""
    count = int(_model(student, tmp_path_factory, "build_cnn").count_params())
    if count > PARAMETER_BUDGET:
        raise CheckFailed(f"build_cnn() has {count:,} parameters; the budget is "
                          f"{PARAMETER_BUDGET:,}",
                          "use fewer filters or units, or pool before Flatten: the first "
                          "Dense layer after Flatten usually holds most of the parameters")
    score.set(1.0, f"{count:,} parameters (budget {PARAMETER_BUDGET:,})")


@pytest.mark.points(7)
@pytest.mark.timeout(120)
def test_own_cnn_interface(student, tmp_path_factory):
    """build_cnn(): input (None, 28, 28, 1), softmax output (None, 10), cross-entropy, accuracy."""
    model = _model(student, tmp_path_factory, "build_cnn")
    inputs = [tuple(t.shape) for t in model.inputs]
    outputs = [tuple(t.shape) for t in model.outputs]
    hint = ("keras.Input(shape=(28, 28, 1)) ... Dense(10, activation='softmax'); compile with "
            "a categorical cross-entropy loss and metrics=['accuracy']")
    if inputs != [(None, 28, 28, 1)] or outputs != [(None, 10)]:
        raise CheckFailed(f"build_cnn() should map one input (None, 28, 28, 1) to one output "
                          f"(None, 10), got inputs {inputs} and outputs {outputs}", hint)
    signature = keras_checks.layer_signature(model)
    if not signature or signature[-1].get("activation") != "softmax":
        last = keras_checks.format_layer(signature[-1]) if signature else "nothing"
        raise CheckFailed(f"the last layer of build_cnn() should apply a softmax, got {last}",
                          hint)
    _check_compiled_for_probabilities(model, keras_checks.compile_settings(model),
                                      what="build_cnn()", hint=hint)


# ---------------------------------------------------------------------------------------------
# Behaviour (15)
# ---------------------------------------------------------------------------------------------

@pytest.mark.points(5)
@pytest.mark.timeout(120)
def test_models_output_probabilities(student, tmp_path_factory, seed):
    """Both models output one probability distribution over the 10 classes per image."""
    x = np.random.default_rng([seed, 8]).random((32, 28, 28, 1), dtype=np.float32)
    for builder in ("build_simple_cnn", "build_cnn"):
        keras_checks.check_probabilities(_model(student, tmp_path_factory, builder), x,
                                        what=f"{builder}()",
                                        hint="the last layer needs a softmax activation",
                                        dtype=np.float32)


@pytest.mark.points(5)
@pytest.mark.timeout(300)
def test_simple_cnn_overfits_a_small_batch(student, tmp_path_factory, seed, score):
    """build_simple_cnn() with its compile settings learns 256 training images by heart."""
    score.set(1.0, keras_checks.check_learns_small_batch(
        student, tmp_path_factory.mktemp, "build_simple_cnn", channels_last=True,
        images=SMALL_IMAGES, epochs=SIMPLE_EPOCHS, batch_size=SMALL_BATCH, seed=seed,
        min_accuracy=SIMPLE_ACCURACY,
        hint="check the layers (ReLU, softmax output), the loss (categorical cross-entropy) "
             "and the optimizer (Adam, default learning rate)"))


@pytest.mark.points(5)
@pytest.mark.timeout(300)
def test_own_cnn_learns_a_small_batch(student, tmp_path_factory, seed, score):
    """build_cnn() with its compile settings learns 256 training images well."""
    score.set(1.0, keras_checks.check_learns_small_batch(
        student, tmp_path_factory.mktemp, "build_cnn", channels_last=True,
        images=SMALL_IMAGES, epochs=OWN_EPOCHS, batch_size=SMALL_BATCH, seed=seed,
        min_accuracy=OWN_ACCURACY,
        hint="check the activations (ReLU, softmax output), the loss and the optimizer's "
             "learning rate; a model that cannot fit 256 images will not fit 60,000"))


# ---------------------------------------------------------------------------------------------
# Performance (30)
# ---------------------------------------------------------------------------------------------

@pytest.mark.points(10)
@pytest.mark.timeout(TRAIN_LIMIT_SECONDS + 120)
def test_train_returns_history_within_budget(student, tmp_path_factory, seed, score):
    """train(build_cnn(), ...) on 60,000 images returns a History in budget, x and y unchanged."""
    info = _train(student, tmp_path_factory, seed)
    score.set(1.0, keras_checks.check_history_within_budget(info))


@pytest.mark.points(20)
@pytest.mark.timeout(TRAIN_LIMIT_SECONDS + 120)
def test_test_accuracy_after_training(student, tmp_path_factory, seed, score):
    """Test accuracy of build_cnn() after train(): full points at 91%, none at 88% or below."""
    info = _train(student, tmp_path_factory, seed)
    score.set(*keras_checks.accuracy_credit(
        info, channels_last=True, floor=ACCURACY_FLOOR, target=ACCURACY_TARGET,
        hint="train for more epochs, check the learning rate, and check that train() fits "
             "the x and y it is given; batch normalisation and a decaying learning rate help",
        check_model=lambda model: keras_checks.check_parameter_budget(
            model, PARAMETER_BUDGET, what="the trained build_cnn()")))

