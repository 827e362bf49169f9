"""Feedback a student can act on, for the Keras assignments (02_mlp_baseline, 03_fashion_cnn).

Two jobs, both on the trusted side and both only about wording (never about points):
- Keras' errors, which reach the grader as text from the worker, are translated into what to
  change ("your model expects inputs of shape (None, 28, 28) but the check feeds (N, 784)"),
  and the grader's own task names are replaced by the student's function.
- When a check's values differ, they are compared with what well-known bugs produce on the same
  inputs (pixels not divided by 255, labels shifted, softmax missing or applied twice, a loss
  that does not match the output), so the first line of the message names the bug.

The exception text comes from the worker, next to the student's code: it is hostile data. It is
only searched for Keras' phrasings and quoted back (the plugin strips control characters).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from autograder.checks import CheckFailed, assert_close
from autograder.proxy import StudentError

_ANSI = re.compile(r"\x1b\[[0-9;]*m|\[[0-9;]*m")
_SHAPE = r"(\([0-9None, ]*\))"
_INPUT_SHAPE = (re.compile(rf"Expected shape {_SHAPE}, but input has incompatible shape {_SHAPE}"),
                re.compile(rf"expected shape={_SHAPE}, found shape={_SHAPE}"))
_MIN_NDIM = re.compile(r"expected min_ndim=(\d+), found ndim=(\d+)\. Full shape received: "
                       rf"{_SHAPE}")
_SAME_SHAPE = re.compile(rf"target\.shape={_SHAPE}, output\.shape={_SHAPE}")
_SPARSE = "must have rank (ndim) `target.ndim - 1`"
_NOT_A_MODEL = re.compile(r"expected a keras\.Model, got (\w+)")


class KerasError(StudentError):
    """A student's exception, reworded: still a StudentError, so a hidden check keeps its fixed
    words and `isinstance_of` still sees the original type."""

    def __init__(self, original: StudentError, text: str) -> None:
        self.call = original.call
        self.exc_type = original.exc_type
        self.mro = original.mro
        self.message = original.message
        self.where = original.where
        Exception.__init__(self, text)


def _batch_as_n(shape: str) -> str:
    """'(32, 784)' -> '(N, 784)': the batch size Keras saw means nothing to the student."""
    parts = shape.strip("()").split(",")
    return "(" + ", ".join(["N", *[p.strip() for p in parts[1:] if p.strip()]]) + ")"


def explain(message: str, *, input_shape: tuple[int, ...], classes: int = 10) -> str | None:
    """What to change, for a Keras error message the grader recognises; None otherwise.

    input_shape: what one image looks like in this assignment, e.g. (784,) or (28, 28, 1).
    """
    text = _ANSI.sub("", message)
    want_input = "(None, " + ", ".join(map(str, input_shape)) + ")"
    start = f"keras.Input(shape={tuple(input_shape)})"
    for pattern in _INPUT_SHAPE:
        found = pattern.search(text)
        if found:
            return (f"your model expects inputs of shape {found.group(1)} but the check feeds "
                    f"{_batch_as_n(found.group(2))}: start the model with {start}, "
                    f"so that it takes {want_input}")
    found = _MIN_NDIM.search(text)
    if found:
        return (f"a layer of your model needs inputs with {found.group(1)} axes (a Conv2D or "
                f"pooling layer needs (N, height, width, channels)) but gets "
                f"{found.group(3)}: start the model with {start}")
    if _SPARSE in text:
        return ("the loss expects integer labels (sparse_categorical_crossentropy), but the "
                f"labels are one-hot (N, {classes}): compile with "
                "loss='categorical_crossentropy'")
    found = _SAME_SHAPE.search(text)
    if found:
        target, output = found.group(1), found.group(2)
        units = output.strip("()").split(",")[-1].strip()
        if units != str(classes):
            return (f"the last layer of your model outputs {units} value(s) per image, but the "
                    f"labels are one-hot over {classes} classes {_batch_as_n(target)}: the last "
                    f"Dense layer needs {classes} units (and a softmax)")
        return (f"the loss got labels of shape {_batch_as_n(target)} and outputs of shape "
                f"{_batch_as_n(output)}: they must match")
    found = _NOT_A_MODEL.search(text)
    if found:
        return f"it should return a keras.Model, got {found.group(1)}"
    return None


def keras_line(message: str) -> str:
    """The line of Keras' message that says what happened (it often starts with a banner)."""
    lines = [line.strip() for line in _ANSI.sub("", message).splitlines() if line.strip()]
    useful = [line for line in lines if not line.startswith(("Exception encountered",
                                                            "Arguments received", "•"))]
    line = (useful or lines or [""])[0]
    return line if len(line) <= 300 else line[:299] + "…"


def reworded(exc: StudentError, doing: str, *, input_shape: tuple[int, ...]) -> StudentError:
    """`exc` told as what the student's code did (`doing`, e.g. "build_mlp()") rather than the
    grader's task, with Keras' error translated where it is recognised."""
    at = f" (at {exc.where})" if exc.where else ""
    explanation = explain(exc.message, input_shape=input_shape)
    if explanation is None:
        detail = keras_line(exc.message)
        text = f"{doing} raised {exc.exc_type}" + (f": {detail}" if detail else "") + at
    else:
        text = (f"{doing} raised {exc.exc_type}: {explanation}{at}\n"
                f"Keras said: {keras_line(exc.message)}")
    return KerasError(exc, text)


def run(student: Any, task: Any, *args: Any, doing: str, input_shape: tuple[int, ...],
        **kwargs: Any) -> Any:
    """`student.run(task, *args, **kwargs)`, with the student's exceptions reworded."""
    try:
        return student.run(task, *args, **kwargs)
    except StudentError as exc:
        raise reworded(exc, doing, input_shape=input_shape) from None


# ---------------------------------------------------------------------------------------------
# Known bugs, recognised from values
# ---------------------------------------------------------------------------------------------

def matching_bug(got: Any, candidates: Sequence[tuple[str, Any]], *, atol: float) -> str | None:
    """The description of the first candidate output that `got` equals (within atol)."""
    try:
        got = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    for description, value in candidates:
        value = np.asarray(value, dtype=np.float64)
        if got.shape == value.shape and np.allclose(got, value, rtol=0, atol=atol):
            return description
    return None


def preprocess_bugs(images: np.ndarray, labels: np.ndarray, *,
                    channels_last: bool) -> tuple[list[tuple[str, Any]], list[tuple[str, Any]]]:
    """What plausible buggy preprocess functions return for x and for y on these inputs."""
    n = len(images)
    shape = (n, 28, 28, 1) if channels_last else (n, 28 * 28)
    pixels = images.astype(np.float64)
    x_bugs = [
        ("x is not scaled: it holds the raw pixel values 0..255 (the division by 255 is "
         "missing)", pixels.reshape(shape)),
        ("x is scaled by 1/256 instead of 1/255", (pixels / 256).reshape(shape)),
        ("x is scaled to [-1, 1]; the assignment asks for [0, 1] (divide by 255 only)",
         (pixels / 127.5 - 1).reshape(shape)),
    ]
    if not channels_last:
        x_bugs.append(("x is flattened column by column (the images transposed); flatten row "
                       "by row with images.reshape(N, 784)",
                       (pixels / 255).transpose(0, 2, 1).reshape(shape)))
    eye = np.eye(10)
    integer_labels = np.asarray(labels, dtype=np.int64)
    y_bugs: list[tuple[str, Any]] = [
        ("y holds the integer labels; one-hot encode them: y[i] is all zeros except a 1 at "
         "column labels[i]", integer_labels),
        ("y holds the integer labels as a column; one-hot encode them: y[i] is all zeros "
         "except a 1 at column labels[i]", integer_labels[:, None]),
    ]
    y_bugs += [(f"y is one-hot, but each 1 sits at column labels[i] {'+' if k > 0 else '-'} "
                f"{abs(k)} instead of labels[i]", eye[(integer_labels + k) % 10])
               for k in (1, -1)]
    return x_bugs, y_bugs


def assert_close_or_named(got: Any, want: Any, bugs: Sequence[tuple[str, Any]], *,
                          atol: float, what: str, hint: str,
                          modified_inputs: Sequence[str] = ()) -> None:
    """assert_close, with the bug it recognises (or inputs the call modified) said first."""
    try:
        assert_close(got, want, atol=atol, what=what, hint=hint)
    except CheckFailed as exc:
        found = matching_bug(got, bugs, atol=max(atol, 1e-6))
        if found is None and modified_inputs:
            found = (f"preprocess modified its input(s) {', '.join(modified_inputs)} "
                     "(write into a converted copy, never into the arrays you are given)")
        if found is None:
            raise
        raise CheckFailed(f"{found}.\n{exc.message}", exc.hint) from None


def output_bug(outputs: np.ndarray) -> str | None:
    """Outputs that look like logits, or like a softmax applied twice; None otherwise."""
    if outputs.ndim != 2 or not np.all(np.isfinite(outputs)):
        return None
    sums = outputs.sum(axis=1)
    if outputs.min() < 0 or not np.allclose(sums, 1, atol=1e-3):
        return ("the outputs look like logits (raw scores, some negative, rows not summing "
                "to 1): the last layer needs a softmax activation")
    k = outputs.shape[1]
    # softmax of a probability vector lies in [1 / (k - 1 + e), e / (k - 1 + e)]
    low, high = 1 / (k - 1 + np.e), np.e / (k - 1 + np.e)
    if k > 2 and outputs.min() >= low - 1e-6 and outputs.max() <= high + 1e-6:
        return ("every output lies between "
                f"{low:.3f} and {high:.3f}: softmax is applied twice (a softmax layer after a "
                "Dense layer that already has activation='softmax')")
    return None


def loss_bug(settings: dict[str, Any], last_activation: str | None) -> str | None:
    """A loss that does not fit the model's output or the one-hot labels; None otherwise."""
    loss = settings["loss"]
    name = str(loss["name"])
    if name in ("sparse_categorical_crossentropy", "SparseCategoricalCrossentropy"):
        return ("the loss is sparse categorical cross-entropy, which expects integer labels; "
                "the labels here are one-hot (N, 10): use 'categorical_crossentropy'")
    if loss["from_logits"] and last_activation == "softmax":
        return ("the loss has from_logits=True, but the last layer already applies a softmax: "
                "the loss would apply a second one; use from_logits=False")
    if loss["from_logits"]:
        return ("the loss has from_logits=True (the model outputs logits): the assignment "
                "asks for a softmax output and from_logits=False")
    return None


def double_softmax(signature: Sequence[dict[str, Any]]) -> bool:
    """True when a softmax follows a layer that already ends with one."""
    activations = [entry.get("activation") for entry in signature]
    return any(a == b == "softmax" for a, b in zip(activations, activations[1:], strict=False))
