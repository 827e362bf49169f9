"""What crosses the pipe between the grader and the worker.

The grader trusts nothing the worker sends, so replies are decoded with a restricted
unpickler: plain Python data and NumPy arrays, nothing that can run code. Requests go the
other way (trusted to worker) and use ordinary pickle.
"""

from __future__ import annotations

import io
import pickle
from typing import Any

import numpy as np

# The only globals a reply may name: what pickle needs to rebuild arrays, dtypes and scalars.
_ALLOWED_GLOBALS = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy.core.numeric", "_frombuffer"),
    ("builtins", "complex"),
    ("builtins", "slice"),
    ("builtins", "range"),
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("builtins", "bytearray"),
    ("_codecs", "encode"),
}


class UnsafeReply(Exception):
    """The worker sent something that is not plain data."""


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise UnsafeReply(
            f"values of type {module}.{name} cannot be returned to the grader; "
            "return NumPy arrays, numbers, strings, lists, tuples or dicts"
        )


def encode(obj: Any) -> bytes:
    """Serialise a request or a reply (protocol 5 keeps large arrays cheap)."""
    return pickle.dumps(obj, protocol=5)


def decode_request(data: bytes) -> Any:
    """Decode a request from the grader (trusted, so plain pickle)."""
    return pickle.loads(data)


def decode_reply(data: bytes) -> Any:
    """Decode a reply from the worker, refusing anything but plain data and arrays."""
    try:
        value = _RestrictedUnpickler(io.BytesIO(data)).load()
    except UnsafeReply:
        raise
    except Exception as exc:  # truncated or forged bytes from untrusted code
        raise UnsafeReply(f"the worker sent a reply the grader cannot read ({exc})") from None
    _reject_object_arrays(value)
    return value


def _reject_object_arrays(value: Any) -> None:
    if isinstance(value, np.ndarray) and value.dtype.hasobject:
        raise UnsafeReply("arrays of Python objects cannot be returned; use a numeric dtype")
    if isinstance(value, list | tuple | set | frozenset):
        for item in value:
            _reject_object_arrays(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            _reject_object_arrays(key)
            _reject_object_arrays(item)
