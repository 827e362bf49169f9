"""A worker-side task on arrays: call a student's function and send back its inputs too.

Arrays cross the pipe by value, so only inside the worker can a function be seen writing into
its inputs. `call_and_return_inputs` sends back the result with the input arrays as they are
after the call; the trusted side compares both with its own copies and references. The task
runs next to the student's code, which could replace it; but a replacement must still send
back correct results, so a check built on it never rewards code that does not work.
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
