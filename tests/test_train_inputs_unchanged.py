"""Does the grader see, and name, what a Keras `train` did to the x and y it was given?

The worker sends back `array_summary` of x and y after `train` (the arrays are too large);
the trusted side compares them with the summaries of its own copies (`changed_inputs`). Each
case below writes into copies of a small (x, y) the way a student's `train` might.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from autograder import codec
from autograder.checks import CheckFailed
from course.helpers.array_tasks import array_summary
from course.helpers.keras_checks import changed_inputs, check_history_within_budget

RNG = np.random.default_rng(0)
X = RNG.random((600, 784), dtype=np.float32)
Y = np.eye(10, dtype=np.float32)[RNG.integers(0, 10, 600)]


def _divide(a: np.ndarray) -> None:
    a /= 255


def _shuffle(a: np.ndarray) -> None:
    np.random.default_rng(1).shuffle(a)


def _flip_some(a: np.ndarray) -> None:
    a[:300] = a[:300, ::-1].copy()


def _reshape(a: np.ndarray) -> None:
    a.shape = (len(a), 28, 28)


def _one_grey_level(a: np.ndarray) -> None:
    a[3, 5] += 1 / 255


def _smooth(a: np.ndarray) -> None:
    a *= 0.9
    a += 0.01


def _reported(edit_x: Callable | None = None, edit_y: Callable | None = None) -> dict:
    """What the worker sends back after edits of its copies, through the grader's codec."""
    x, y = X.copy(), Y.copy()
    for edit, array in ((edit_x, x), (edit_y, y)):
        if edit is not None:
            edit(array)
    reply = {"x": array_summary(x), "y": array_summary(y)}
    return codec.decode_reply(codec.encode_reply(reply))


def test_a_train_that_writes_nothing_changes_nothing():
    """Do untouched arrays, summarised in the worker and sent back, count as unchanged?"""
    assert changed_inputs(_reported(), {"x": X, "y": Y}) == []


@pytest.mark.parametrize(("edit_x", "edit_y", "words"), [
    (_divide, None, ["x in place: every value was divided by 255 (e.g. x /= 255)"]),
    (_shuffle, _shuffle, ["x in place: its rows were reordered",
                          "y in place: its rows were reordered"]),
    (None, _shuffle, ["y in place: its rows were reordered"]),  # one-hot rows: same sums
    (_flip_some, None, ["x in place: values moved within its rows"]),
    (_reshape, None, ["x in place: its shape went from (600, 784) to (600, 28, 28)"]),
    (_one_grey_level, None, ["x in place: its values changed"]),
    (None, _smooth, ["y in place: its values changed"]),  # every row still sums to 1
], ids=["divide", "shuffle-both", "shuffle-labels", "flip", "reshape", "one-pixel", "smooth"])
def test_each_change_is_found_and_named(edit_x, edit_y, words):
    """Is each in-place change found, for the right argument, in words that name it?"""
    found = changed_inputs(_reported(edit_x, edit_y), {"x": X, "y": Y})
    assert len(found) == len(words), found
    for line, start in zip(found, words, strict=True):
        assert line.startswith(start), (line, start)


@pytest.mark.parametrize("reported", [None, {"x": "unchanged"},
                                      {"x": {**array_summary(X), "shape": "(600, 784)"}},
                                      {"x": {**array_summary(X), "row_sums": np.zeros(3)}}])
def test_a_missing_or_malformed_summary_counts_as_a_change(reported):
    """Does a reply no grader task sends cost the check rather than pass it?"""
    assert changed_inputs(reported, {"x": X}) == [
        "x in place: the grader could not read it back after the call"]


def test_the_history_check_fails_naming_the_change():
    """Does a train() within budget that returns a History still fail when x was changed?"""
    info = {"charged_seconds": 1.0, "budget_seconds": 180.0, "returned": "History",
            "returned_history": True,
            "inputs_changed": changed_inputs(_reported(_divide), {"x": X, "y": Y})}
    with pytest.raises(CheckFailed, match=r"^train\(\) modified x in place: every value"):
        check_history_within_budget(info)
    assert "train() took 1 s" in check_history_within_budget({**info, "inputs_changed": []})
