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
