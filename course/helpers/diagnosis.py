"""Name the bug: compare a wrong result with the outputs of known plausible bugs.

A check that finds a student's values wrong asks `diagnose` whether they equal the output of
a catalogued bug (a `Bug`: trusted code that computes what the buggy function would return on
the same inputs). Everything here runs on the grader's side on results that already came back
from the worker: no student code runs here. A bug is named only when the student's result has
its shape and matches its values within the check's own tolerance, and only after the values
were found wrong, so a correct result is never diagnosed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from autograder.checks import CheckFailed, assert_close


@dataclass(frozen=True)
class Bug:
    """A plausible bug: `says` names it to the student, `fix` says what to change, `output`
    computes the buggy result from the graded function's arguments (or raises when the bug
    cannot produce one on them, e.g. a bias that cannot broadcast along the wrong axis).

    `says` and `fix` are fixed words (hidden checks show them too): never the inputs.
    """

    says: str
    fix: str
    output: Callable[..., Any]


def same_result(got: Any, want: Any, atol: float, rtol: float) -> bool:
    """True if `got` has the shape of `want` and its values within atol + rtol * |want|."""
    try:
        got_array = np.asarray(got, dtype=np.float64)
        want_array = np.asarray(want, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return (got_array.shape == want_array.shape and bool(np.all(np.isfinite(got_array)))
            and bool(np.allclose(got_array, want_array, atol=atol, rtol=rtol)))


def diagnose(got: Any, bugs: Sequence[Bug], args: tuple, kwargs: dict[str, Any], *,
             atol: float, rtol: float) -> Bug | None:
    """The first bug of `bugs` whose output on these arguments equals `got`, or None."""
    for bug in bugs:
        try:
            want = bug.output(*args, **kwargs)
        except (ValueError, IndexError):  # this bug has no output on these inputs
            continue
        if same_result(got, want, atol, rtol):
            return bug
    return None


def assert_close_or_diagnose(got: Any, want: Any, bugs: Sequence[Bug], args: tuple,
                             kwargs: dict[str, Any], *, atol: float, rtol: float, what: str,
                             hint: str) -> None:
    """`assert_close`, and when it fails because of a catalogued bug, its failure names the bug
    first and gives the bug's fix as the hint (the expected/got text stays)."""
    try:
        assert_close(got, want, atol=atol, rtol=rtol, what=what, hint=hint)
    except CheckFailed as failure:
        bug = diagnose(got, bugs, args, kwargs, atol=atol, rtol=rtol)
        if bug is None:
            raise
        raise CheckFailed(failure.message, hint=bug.fix, diagnosis=bug.says) from None
