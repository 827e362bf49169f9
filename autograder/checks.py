"""Helpers for check authors: one way to fail with feedback, one way to compare arrays."""

from __future__ import annotations

from typing import Any

import numpy as np


class CheckFailed(AssertionError):
    """A check's verdict: `message` says what was expected and got, `hint` what to try, and
    `diagnosis` (optional) which known bug the result matches, shown first.

    Hidden checks show only the diagnosis and the hint, so put nothing about the inputs in
    either.
    """

    def __init__(self, message: str, hint: str = "", diagnosis: str = "") -> None:
        self.message = message
        self.hint = hint
        self.diagnosis = diagnosis
        text = f"{diagnosis}\n{message}" if diagnosis else message
        super().__init__(f"{text}\nHint: {hint}" if hint else text)


def max_abs_error(got: np.ndarray, want: np.ndarray) -> float:
    """Largest absolute difference, as a float (inf where NaN or inf disagree)."""
    diff = np.abs(np.asarray(got, dtype=np.float64) - np.asarray(want, dtype=np.float64))
    return float(np.nan_to_num(diff, nan=np.inf).max(initial=0.0))


def assert_close(got: Any, want: Any, *, atol: float, rtol: float = 0.0, what: str,
                 hint: str = "", dtype: Any = None) -> None:
    """Fail with a clear message unless `got` is an array like `want` within tolerance.

    Checks, in order: an array (or array-like of numbers), the shape, the dtype when given,
    finite values, then |got - want| <= atol + rtol * |want| everywhere.
    """
    want = np.asarray(want)
    if not isinstance(got, np.ndarray | np.generic | int | float | list | tuple):
        raise CheckFailed(f"{what}: expected a NumPy array of shape {want.shape}, "
                          f"got {type(got).__name__}", hint)
    try:
        got = np.asarray(got, dtype=None)
        got.astype(np.float64)
    except (TypeError, ValueError):
        raise CheckFailed(f"{what}: expected numbers, got an array of {got.dtype}", hint) from None
    if got.shape != want.shape:
        raise CheckFailed(f"{what}: expected shape {want.shape}, got {got.shape}", hint)
    if dtype is not None and got.dtype != np.dtype(dtype):
        raise CheckFailed(f"{what}: expected dtype {np.dtype(dtype)}, got {got.dtype}", hint)
    if not np.all(np.isfinite(got)) and np.all(np.isfinite(want)):
        bad = int(np.size(got) - np.count_nonzero(np.isfinite(got)))
        raise CheckFailed(f"{what}: {bad} value(s) are NaN or infinite", hint)
    error = np.abs(got.astype(np.float64) - want.astype(np.float64))
    allowed = atol + rtol * np.abs(want.astype(np.float64))
    if np.any(error > allowed):
        where = np.unravel_index(int(np.argmax(error - allowed)), error.shape) if error.ndim else ()
        raise CheckFailed(
            f"{what}: values differ; max abs error {float(error.max()):.3g} "
            f"(tolerance atol={atol:g}, rtol={rtol:g}); worst at index "
            f"{tuple(map(int, where))}: expected {float(want[where]):.6g}, "
            f"got {float(got[where]):.6g}", hint)
