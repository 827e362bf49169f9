"""Is the feedback readable and complete where students read it?

The terminal shows every reason whole at 80 columns; report.md holds passing checks' figures
and stays under the PR comment limit in bytes; Keras' errors are translated into what to change
(from real Keras errors); a training check warns past half its budget; and a real grading prints
no TensorFlow start-up noise and ends by saying where the reports are.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from autograder import render
from autograder.results import CheckResult, Results
from course.helpers import keras_checks, keras_feedback

ROOT = Path(__file__).resolve().parent.parent
LONG_REASON = "\n".join([
    "build_mlp(): the softmax is missing: layer 5 outputs logits.",
    "build_mlp(): layer 5 should be Dense(10, softmax), got Dense(10, linear).",
    "Expected: " + " -> ".join(["Dense(512, relu)", "Dropout(0.2)"] * 6 + ["Dense(10, softmax)"]),
    "a_single_word_longer_than_the_terminal_" + "x" * 90 + "_end",
    "Hint: for each entry of hidden_units: Dense(units, activation='relu') then Dropout(dropout)",
])
TF_NOISE = ("absl::InitializeLog", "oneDNN custom operations", "cpu_feature_guard",
            "Unable to register cuDNN factory", "TF-TRT Warning", "I0000 00:00")


def _results(*outputs: tuple[str, float]) -> Results:
    res = Results()
    for i, (output, score) in enumerate(outputs):
        res.tests.append(CheckResult(
            assignment="02_mlp_baseline", name=f"check {i} with a title long enough to wrap "
            "in a narrow terminal, as the real titles do", number=f"2.{i + 1}", max_score=10,
            score=score, status="passed" if score == 10 else "failed", output=output,
            reported=True))
    return res


def test_terminal_shows_a_long_multi_line_reason_whole_at_80_columns():
    """At 80 columns, is every character of a long multi-line reason printed (wrapped, not
    cut), with no line wider than 80?"""
    console = Console(width=80, record=True, color_system=None, file=io.StringIO())
    render.terminal(_results((LONG_REASON, 0), ("train() took 40 s of a 180 s budget", 10)),
                    console)
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 80
    printed = "".join(text.split())  # wrapping only adds spaces and line breaks
    for line in LONG_REASON.splitlines() + ["train() took 40 s of a 180 s budget"]:
        assert "".join(line.split()) in printed, line
    assert "…" not in text


def test_markdown_notes_hold_passing_figures_and_warnings():
    """Does report.md show a passing check's figures and its budget warning in the notes
    column, and a failure's first line there with the full reason below?"""
    info = {"charged_seconds": 133.0, "budget_seconds": 180.0}
    passing = f"test accuracy 89.40% on 10,000 images; {keras_checks.budget_used(info)}"
    text = render.markdown(_results((passing, 10), (LONG_REASON, 0)))
    row = next(line for line in text.splitlines() if line.startswith("| 2.1 |"))
    assert "test accuracy 89.40%" in row
    assert "133 s of 180 s: on a slower machine this fails; reduce epochs or the model size" in row
    failing = next(line for line in text.splitlines() if line.startswith("| 2.2 |"))
    assert "the softmax is missing" in failing
    assert LONG_REASON in text  # in full under "What to fix"


def test_markdown_limit_counts_utf8_bytes():
    """With reasons full of multi-byte characters, is report.md at most MARKDOWN_LIMIT bytes of
    UTF-8 (not characters), still valid and pointing to results.json for the rest?"""
    reason = "\n".join(f"ligne {j} — résultat attendu → obtenu ≠ ✓✗ 日本語" for j in range(60))
    text = render.markdown(_results(*[(reason, 0)] * 100))
    size = len(text.encode("utf-8"))
    assert 0.9 * render.MARKDOWN_LIMIT <= size <= render.MARKDOWN_LIMIT
    assert size > len(text) + 5000  # counted in characters, it would have run over
    assert "see results.json" in text
    assert text.count("<details>") == text.count("</details>")


def test_budget_warning_only_past_half():
    """Does a training check's message warn when, and only when, more than half of the budget
    was used?"""
    assert "warning" not in keras_checks.budget_used({"charged_seconds": 90.0,
                                                     "budget_seconds": 180.0})
    warned = keras_checks.budget_used({"charged_seconds": 133.0, "budget_seconds": 180.0})
    assert warned.splitlines()[1] == ("warning: 133 s of 180 s: on a slower machine this "
                                      "fails; reduce epochs or the model size")


def _keras_error(build, x: np.ndarray, y: np.ndarray, loss: str) -> str:
    """The message of the error Keras raises when fitting build() on (x, y)."""
    import keras

    model = build(keras)
    model.compile(optimizer="adam", loss=loss)
    with pytest.raises(Exception) as info:
        model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    return str(info.value)


def _dense(keras, input_shape, units=10, flatten=False):
    layers = [keras.Input(shape=input_shape)] + ([keras.layers.Flatten()] if flatten else [])
    return keras.Sequential(layers + [keras.layers.Dense(units, activation="softmax")])


X_FLAT = np.zeros((16, 784), np.float32)
Y_ONE_HOT = np.eye(10, dtype=np.float32)[np.arange(16) % 10]


@pytest.mark.parametrize(("build", "x", "loss", "expected"), [
    (lambda k: _dense(k, (28, 28), flatten=True), X_FLAT, "categorical_crossentropy",
     "your model expects inputs of shape (None, 28, 28) but the check feeds (N, 784): start "
     "the model with keras.Input(shape=(784,))"),
    (lambda k: _dense(k, (784,), units=5), X_FLAT, "categorical_crossentropy",
     "the last layer of your model outputs 5 value(s) per image, but the labels are one-hot "
     "over 10 classes (N, 10): the last Dense layer needs 10 units"),
    (lambda k: _dense(k, (784,)), X_FLAT, "sparse_categorical_crossentropy",
     "the loss expects integer labels (sparse_categorical_crossentropy), but the labels are "
     "one-hot (N, 10)"),
], ids=["input_shape", "units", "sparse_loss"])
def test_real_keras_errors_are_translated(build, x, loss, expected):
    """Is each of these real Keras errors translated into what to change?"""
    message = _keras_error(build, x, Y_ONE_HOT, loss)
    assert keras_feedback.explain(message, input_shape=(784,)).startswith(expected), message


def test_conv_on_flat_input_is_translated():
    """Is Keras' error for a Conv2D built on flat inputs translated?"""
    import keras

    with pytest.raises(ValueError) as info:
        keras.layers.Conv2D(4, 3)(keras.Input(shape=(784,)))
    explained = keras_feedback.explain(str(info.value), input_shape=(28, 28, 1))
    assert explained.startswith("a layer of your model needs inputs with 4 axes"), info.value
    assert "keras.Input(shape=(28, 28, 1))" in explained


def test_output_bugs_are_named():
    """Are logits and a softmax applied twice told apart from probabilities?"""
    logits = np.random.default_rng(0).standard_normal((8, 10))
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    twice = np.exp(probabilities) / np.exp(probabilities).sum(axis=1, keepdims=True)
    assert "logits" in keras_feedback.output_bug(logits)
    assert "softmax is applied twice" in keras_feedback.output_bug(twice)
    assert keras_feedback.output_bug(probabilities) is None


def test_grading_prints_no_tensorflow_noise_and_says_where_the_reports_are(tmp_path):
    """Does a real (fast) grading of 02 print none of TensorFlow's start-up lines, keep every
    line within 80 columns, and end by naming report.md?"""
    out = tmp_path / "grading"
    done = subprocess.run(
        [sys.executable, "-m", "autograder", "grade", "02_mlp_baseline", "--submission",
         "solutions", "--checks-filter", "preprocess or compile_settings", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
        env={**os.environ, "COLUMNS": "80"})
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert [noise for noise in TF_NOISE if noise in output] == [], output
    assert "Total: 25/25" in output
    assert max(len(line) for line in done.stdout.splitlines()) <= 80
    assert "report.md" in done.stdout.strip().splitlines()[-1]
    assert (out / "report.md").is_file()
