"""A worker-side task on arrays: call a student's function and send back its inputs too.

Arrays cross the pipe by value, so only inside the worker can a function be seen writing into
its inputs. `call_and_return_inputs` sends back the result with the input arrays as they are
after the call; the trusted side compares both with its own copies and references. The task
runs next to the student's code, which could replace it; but a replacement must still send
back correct results, so a check built on it never rewards code that does not work.

`array_summary` stands in for an array too large to send back (60,000 training images): both
sides compute it with the same code, the worker on the array after the call, the trusted side
on its own copy.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np


def call_and_return_inputs(module: ModuleType, name: str, *args: Any,
                           **kwargs: Any) -> tuple[Any, dict[str, np.ndarray]]:
    """`module.name(*args, **kwargs)`: its result, and its array arguments after the call.

    Positional arguments are named `arg0`, `arg1`, ...; keyword arguments by their keyword.
    """
    result = getattr(module, name)(*args, **kwargs)
    named = {f"arg{i}": value for i, value in enumerate(args)} | kwargs
    return result, {key: value for key, value in named.items() if isinstance(value, np.ndarray)}


def _returned_arrays(result: Any) -> list[tuple[str, np.ndarray]]:
    if isinstance(result, tuple | list):
        return [(f"result[{i}]", item) for i, item in enumerate(result)
                if isinstance(item, np.ndarray)]
    return [("result", result)] if isinstance(result, np.ndarray) else []


def call_and_report_sharing(module: ModuleType, name: str, *args: Any,
                            **kwargs: Any) -> tuple[Any, dict[str, np.ndarray], list[str]]:
    """`call_and_return_inputs`, plus every pair of arrays that share memory among: the
    returned arrays (a tuple's items too), the input arrays, and what a second identical call
    returns (a function returning one module-level array every time). The inputs sent back
    are those after the first call.

    Whether two arrays share memory can only be seen here: they cross the pipe by copy.
    """
    result, inputs = call_and_return_inputs(module, name, *args, **kwargs)
    returned = _returned_arrays(result)
    shared = [f"{label} and {other}" for i, (label, array) in enumerate(returned)
              for other, value in [*returned[i + 1:], *inputs.items()]
              if np.shares_memory(array, value)]
    after = {key: value.copy() for key, value in inputs.items()}
    again = _returned_arrays(getattr(module, name)(*args, **kwargs))
    shared += [f"{label} and the {other} of a second call" for label, array in returned
               for other, value in again if np.shares_memory(array, value)]
    return result, after, shared


def array_summary(array: np.ndarray, block: int = 4096) -> dict[str, Any]:
    """A few numbers that change when an array is written into, a small fraction of its size:
    its shape and dtype and, in float64, for each row (along the first axis) the sum, the sum
    of squares and the sum weighted by position (1, 2, 3, ... along the row), and the sum of
    each column (over the first axis).

    Row sums see values changed and rows reordered, weighted sums values moved within a row
    (an image flipped in place) and one-hot rows reordered, squares an affine change that
    keeps the sums (labels smoothed in place). Computed a block of rows at a time, so the
    float64 copy stays small.
    """
    array = np.asarray(array)
    rows = array.reshape(len(array), -1) if array.ndim and array.size else array.reshape(1, -1)
    positions = np.arange(1, rows.shape[1] + 1, dtype=np.float64)
    sums, squares, weighted = np.empty(len(rows)), np.empty(len(rows)), np.empty(len(rows))
    columns = np.zeros(rows.shape[1])
    for start in range(0, len(rows), block):
        chunk = rows[start:start + block].astype(np.float64)
        sums[start:start + block] = chunk.sum(axis=1)
        squares[start:start + block] = np.square(chunk).sum(axis=1)
        weighted[start:start + block] = chunk @ positions
        columns += chunk.sum(axis=0)
    return {"shape": tuple(array.shape), "dtype": str(array.dtype), "row_sums": sums,
            "row_squares": squares, "row_weighted_sums": weighted, "column_sums": columns}
