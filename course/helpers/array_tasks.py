"""Trusted tasks that run inside the worker for the checks of 01_kernel_convolution.

Each task is `task(module, *args, **kwargs)`, called by `student.run(task, ...)` with the
student's module. They observe what cannot cross the pipe by value: whether a call wrote into
its input arrays, and how long a call takes without the cost of sending arrays. NumPy only, so
the worker stays light.
"""

from __future__ import annotations

import time
from types import ModuleType
from typing import Any

import numpy as np


def changed_arguments(module: ModuleType, name: str, *args: Any, **kwargs: Any) -> list[str]:
    """Call `module.name(*args, **kwargs)`; the names of the array arguments it modified.

    Positional arguments are named `arg0`, `arg1`, ...; keyword arguments by their keyword.
    """
    named = {f"arg{i}": value for i, value in enumerate(args)} | kwargs
    before = {key: value.copy() for key, value in named.items() if isinstance(value, np.ndarray)}
    getattr(module, name)(*args, **kwargs)
    return [key for key, copy in before.items()
            if not np.array_equal(named[key], copy, equal_nan=True)]


def timed_call(module: ModuleType, name: str, args: tuple, kwargs: dict, *,
               repeats: int, budget_seconds: float) -> tuple[float, Any]:
    """Best wall time of `module.name(*args, **kwargs)` over `repeats` calls, and its result.

    The best (minimum) time is the least disturbed by other load on the machine. A first
    (warm-up) call slower than `budget_seconds` ends the measurement early: its time is
    returned, so a very slow implementation costs one call, not `repeats`.
    """
    function = getattr(module, name)
    start = time.perf_counter()
    result = function(*args, **kwargs)
    first = time.perf_counter() - start
    if first > budget_seconds:
        return first, result
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function(*args, **kwargs)
        times.append(time.perf_counter() - start)
    return min(times), result
