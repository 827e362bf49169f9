"""What crosses the socket between the grader and the worker.

Requests (grader -> worker) come from trusted code and are pickled. Replies (worker -> grader)
are written by a process that runs student code, so the grader must treat them as hostile. They
are *not* pickle: even a restricted unpickler is a virtual machine whose opcodes make NumPy and
CPython build objects in C (a 100-byte pickle hung the grader, nested slices and a dtype with an
out-of-bounds field offset crashed it, another allocated 3 GiB). A reply is plain data instead:

    frame   = header + document + buffers
    header  = b"AGREPLY1" + document length + buffer-area length   (two little-endian uint64)
    document: ASCII JSON (at most 16 MiB, 102 levels, 2**20 arrays and objects) of nodes:
        null, true, false, numbers, strings     themselves (floats as 1.0, NaN, Infinity)
        {"key": node, ...}                      a dict with str keys
        ["list", node, ...]  ["tuple", node, ...]  ["complex", real, imag]
        ["bytes", offset, length]               raw bytes from the buffer area
        ["ndarray", dtype, [dim, ...], offset, length]
        ["scalar", dtype, offset, length]       a NumPy scalar (its raw bytes)
    buffers: the raw bytes of those nodes, back to back in document order: each offset is the
        end of the previous buffer, and the last one ends exactly at the end of the frame.

Decoding parses the document with the json module after a linear pre-scan of its nesting, and
checks every declared size against the bytes actually received before it allocates anything,
so a hostile reply costs at most O(its size) time and memory. dtypes come from an allow-list
of numeric ones. Decoded arrays are writable copies that own their memory (one copy of the
buffer bytes, nothing shared with the receive buffer). Dict keys are str only: int or tuple keys
(and set elements) would let a reply choose colliding hashes and make building the dict quadratic
in its size; str hashes are randomised per process.
"""

from __future__ import annotations

import json
import math
import pickle
import struct
from typing import Any

import numpy as np

_MAGIC = b"AGREPLY1"
_HEADER = struct.Struct("<8sQQ")  # magic, document length, buffer-area length
_MAX_REPLY_BYTES = 2**30  # the proxy's own limit on what it receives
_MAX_DOCUMENT_BYTES = 16 * 2**20  # parsed JSON takes up to ~25x its size in Python objects
_MAX_CONTAINERS = 2**20  # JSON arrays and objects: the costliest nodes per byte
_MAX_DEPTH = 100  # nested lists, tuples and dicts in a value
_MAX_JSON_DEPTH = _MAX_DEPTH + 2  # a leaf node (ndarray) and its shape list add two levels
_MAX_DIMS = 32
_MAX_INT_DIGITS = 4300  # Python's own default limit: longer decimal ints parse in quadratic time
_INT_LIMIT = 10**_MAX_INT_DIGITS
_MAX_FLOAT_CHARS = 32  # repr() of any float is at most 24 characters
_MAX_NBYTES = np.iinfo(np.intp).max  # NumPy refuses larger arrays, even empty ones
_SCAN_CHUNK = 2**16  # bytes per step of the nesting scan: small temporaries

_NUMERIC = ("?", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8",
            "f2", "f4", "f8", "c8", "c16")
# dtype.str -> dtype, both byte orders: the only dtypes a reply may name.
_DTYPES = {dt.str: dt for code in _NUMERIC for dt in (np.dtype("<" + code), np.dtype(">" + code))}

_SUPPORTED = ("None, bool, int, float, complex, str, bytes, lists, tuples, dicts with str "
              "keys, and NumPy arrays or scalars of a bool, int, uint, float or complex dtype")
_CONVERSIONS = (  # (types, how to convert) for the values students most often return
    (np.ndarray, "np.asarray(x)"), (set | frozenset, "a list, e.g. sorted(x)"),
    (bytearray | memoryview, "bytes(x)"), (int, "int(x)"),
    (float, "float(x)"), (str, "str(x)"), (bytes, "bytes(x)"), (tuple, "tuple(x)"),
    (list, "list(x)"), (dict, "dict(x)"),
)

# Bracket bytes -> +1 / -1 nesting steps, every other byte -> 0 (see _too_deep).
_STEP = np.zeros(256, np.int8)
_STEP[list(b"[{")] = 1
_STEP[list(b"]}")] = -1
_QUOTE = ord('"')


class UnsafeReply(Exception):
    """The worker's reply is not a well-formed frame; none of it was used."""

    def __init__(self, problem: str) -> None:
        self.problem = problem
        super().__init__(
            f"the grader refused the reply from your code: {problem}. Return only "
            f"{_SUPPORTED}, and do not write to the grader's connection or patch its modules")


# -- requests: trusted, so pickle -----------------------------------------------------------


def encode_request(obj: Any) -> bytes:
    """Serialise a request from the grader (protocol 5 keeps large arrays cheap)."""
    return pickle.dumps(obj, protocol=5)


def decode_request(data: bytes) -> Any:
    """Decode a request in the worker: it comes from the trusted grader, so plain pickle."""
    return pickle.loads(data)


# -- replies: encoding (in the worker) ------------------------------------------------------


def encode_reply(obj: Any) -> bytes:
    """Serialise a reply as a data-only frame (see the module docstring).

    Raises TypeError for a value of a type the format cannot hold (naming it and what to
    return instead) and ValueError for one beyond its limits (nesting, dims, int digits, size).
    """
    writer = _Writer()
    node = writer.node(obj, 0)
    document = json.dumps(node, ensure_ascii=True, check_circular=False,
                          separators=(",", ":")).encode("ascii")
    if len(document) > _MAX_DOCUMENT_BYTES:
        raise ValueError(
            f"the result holds {len(document) >> 20} MiB of numbers, strings and containers "
            f"outside arrays (at most {_MAX_DOCUMENT_BYTES >> 20} MiB); "
            "put bulk numbers in NumPy arrays")
    header = _HEADER.pack(_MAGIC, len(document), writer.size)
    return b"".join([header, document, *writer.buffers])


class _Writer:
    """Turns a value into JSON nodes, collecting raw buffers in document order."""

    def __init__(self) -> None:
        self.buffers: list[Any] = []
        self.size = 0

    def node(self, obj: Any, depth: int) -> Any:
        kind = type(obj)
        if obj is None or kind in (bool, float, str):
            return obj
        if kind is int:
            return _checked_int(obj)
        if kind is complex:
            return ["complex", obj.real, obj.imag]
        if kind is bytes:
            return ["bytes", *self._buffer(obj)]
        if kind in (list, tuple, dict):
            return self._container(obj, depth)
        if kind is np.ndarray:
            return self._array(obj)
        if isinstance(obj, np.generic) and obj.dtype.str in _DTYPES:
            return ["scalar", obj.dtype.str, *self._buffer(obj.tobytes())]
        raise _refusal(obj)

    def _container(self, obj: list | tuple | dict, depth: int) -> Any:
        if depth >= _MAX_DEPTH:
            raise ValueError(f"the result nests lists, tuples and dicts more than {_MAX_DEPTH} "
                             "levels deep (or contains itself); return a flatter structure")
        if type(obj) is dict:
            return {_checked_key(key): self.node(item, depth + 1) for key, item in obj.items()}
        # The tag is the type's name, "list" or "tuple": JSON has only one kind of array.
        return [type(obj).__name__, *(self.node(item, depth + 1) for item in obj)]

    def _array(self, array: np.ndarray) -> list[Any]:
        if array.dtype.str not in _DTYPES:
            raise TypeError(
                f"NumPy arrays of dtype {array.dtype} cannot be sent back to the grader; convert "
                "with .astype() to a bool, int, uint, float or complex dtype (strings or "
                "objects: return a list)")
        if array.ndim > _MAX_DIMS:
            raise ValueError(f"an array has {array.ndim} dimensions (at most {_MAX_DIMS})")
        # Viewed as bytes, not copied (a non-contiguous array is made contiguous first):
        # b"".join in encode_reply then copies each array once, into the frame.
        raw = np.ascontiguousarray(array).reshape(-1).view(np.uint8)
        return ["ndarray", array.dtype.str, list(array.shape), *self._buffer(raw)]

    def _buffer(self, raw: Any) -> tuple[int, int]:
        offset, length = self.size, memoryview(raw).nbytes
        self.buffers.append(raw)
        self.size += length
        return offset, length


def _checked_int(value: int) -> int:
    if abs(value) >= _INT_LIMIT:
        raise ValueError(f"an int has more than {_MAX_INT_DIGITS} digits; "
                         "return it as a str or split it up")
    return value


def _checked_key(key: Any) -> str:
    if type(key) is not str:
        raise TypeError(
            f"dict keys must be str, not {_type_name(key)} ({key!r:.40}); convert the keys "
            "with str() or return a list of (key, value) pairs")
    return key


def _refusal(obj: Any) -> TypeError:
    hint = next((f"convert it to {how}" for types, how in _CONVERSIONS if isinstance(obj, types)),
                f"return {_SUPPORTED} instead")
    return TypeError(f"a value of type {_type_name(obj)} cannot be sent back to the grader; "
                     f"{hint}")


def _type_name(obj: Any) -> str:
    kind = type(obj)
    if kind.__module__ == "builtins":
        return kind.__qualname__
    return f"{kind.__module__}.{kind.__qualname__}"


# -- replies: decoding (in the trusted grader) ----------------------------------------------


def decode_reply(data: bytes, *, max_bytes: int = _MAX_REPLY_BYTES) -> Any:
    """Decode a reply from the worker; raise UnsafeReply for anything but a well-formed frame.

    Costs O(len(data)) time and memory whatever the bytes are. Arrays come back as writable
    copies (C order, aligned, owning their memory); nothing refers to `data` afterwards.
    """
    try:
        document, area = _split_frame(data, max_bytes)
        reader = _Reader(area)
        value = reader.node(_parse_document(document))
        reader.finish()
        return value
    except UnsafeReply:
        raise
    except Exception as exc:  # defence in depth: a gap in the checks must not leak other types
        raise UnsafeReply(f"it could not be read ({type(exc).__name__}: {exc!s:.200})") from None


def _split_frame(data: bytes, max_bytes: int) -> tuple[bytes, memoryview]:
    frame = memoryview(data).cast("B")
    if frame.nbytes > max_bytes:
        raise UnsafeReply(f"it is {frame.nbytes} bytes long, over the limit of {max_bytes}")
    if frame[:len(_MAGIC)] != _MAGIC:
        raise UnsafeReply(f"it starts with {bytes(frame[:8])!r}, not the magic {_MAGIC!r} "
                          "(a pickle or some other format?)")
    if frame.nbytes < _HEADER.size:
        raise UnsafeReply(f"it is only {frame.nbytes} bytes long (truncated)")
    _, document_length, area_length = _HEADER.unpack_from(frame)
    if document_length > _MAX_DOCUMENT_BYTES:
        raise UnsafeReply(f"its structure is {document_length} bytes of JSON "
                          f"(at most {_MAX_DOCUMENT_BYTES}); put bulk numbers in arrays")
    declared = _HEADER.size + document_length + area_length
    if declared != frame.nbytes:
        raise UnsafeReply(f"its header declares {declared} bytes but {frame.nbytes} arrived "
                          "(truncated, or extra bytes at the end)")
    start = _HEADER.size + document_length
    return bytes(frame[_HEADER.size:start]), frame[start:]


def _parse_document(document: bytes) -> Any:
    if not document.isascii():
        raise UnsafeReply("its structure holds bytes that are not ASCII")
    _check_nesting(document)
    try:
        return json.loads(document.decode("ascii"), parse_int=_parse_int,
                          parse_float=_parse_float, object_pairs_hook=_parse_object)
    except ValueError as exc:  # json.JSONDecodeError
        raise UnsafeReply(f"its structure is not valid JSON ({exc})") from None


def _check_nesting(document: bytes) -> None:
    """Refuse a document nested too deep or with too many containers, before json.loads.

    Linear and without recursion: escapes are dropped first ("\\\\" pairs, then escaped quotes),
    so every quote left opens or closes a string; brackets outside strings are then summed a
    chunk at a time (small temporaries for any length). Where the document stops being valid
    JSON the count may be wrong, but json.loads stops reading there too.
    """
    bare = document.replace(b"\\\\", b"").replace(b'\\"', b"")
    level = quotes = containers = 0
    for start in range(0, len(bare), _SCAN_CHUNK):
        chunk = np.frombuffer(bare[start:start + _SCAN_CHUNK], np.uint8)
        quote_counts = quotes + np.cumsum(chunk == _QUOTE, dtype=np.int32)
        steps = np.where(quote_counts % 2 == 1, 0, _STEP[chunk])  # 0 inside strings
        levels = level + np.cumsum(steps, dtype=np.int32)
        containers += int(np.count_nonzero(steps == 1))
        if levels.max() > _MAX_JSON_DEPTH:
            raise UnsafeReply(f"its structure is nested more than {_MAX_JSON_DEPTH} levels deep")
        if containers > _MAX_CONTAINERS:
            raise UnsafeReply(f"its structure has more than {_MAX_CONTAINERS} lists and dicts")
        level, quotes = int(levels[-1]), int(quote_counts[-1])


def _parse_int(token: str) -> int:
    # Checked here, not left to sys.get_int_max_str_digits(), which the grader might raise.
    if len(token.lstrip("-")) > _MAX_INT_DIGITS:
        raise UnsafeReply(f"it holds an int of more than {_MAX_INT_DIGITS} digits")
    return int(token)


def _parse_float(token: str) -> float:
    if len(token) > _MAX_FLOAT_CHARS:
        raise UnsafeReply(f"it holds a number written with {len(token)} characters")
    return float(token)


def _parse_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    value = dict(pairs)
    if len(value) != len(pairs):
        raise UnsafeReply("a dict in it repeats a key")
    return value


class _Reader:
    """Rebuilds a value from parsed JSON nodes; buffers must tile the area in document order."""

    def __init__(self, area: memoryview) -> None:
        self.area = area
        self.position = 0  # where the next buffer must start
        self.tags = {"list": self._list, "tuple": self._tuple, "complex": self._complex,
                     "bytes": self._bytes, "ndarray": self._ndarray, "scalar": self._scalar}

    def node(self, node: Any) -> Any:
        # Recursion is safe: _check_nesting bounded the depth to _MAX_JSON_DEPTH.
        if type(node) is dict:
            for key, item in node.items():
                node[key] = self.node(item)  # in place: no second copy of a large dict
            return node
        if type(node) is list:
            tag = node[0] if node else None
            if type(tag) is not str or tag not in self.tags:
                raise UnsafeReply(f"it holds an unknown node {str(tag)[:40]!r}")
            return self.tags[tag](node)
        return node  # null, true, false, numbers and strings stand for themselves

    def finish(self) -> None:
        if self.position != self.area.nbytes:
            raise UnsafeReply(f"{self.area.nbytes - self.position} bytes follow its last buffer")

    def _list(self, node: list) -> list:
        del node[0]  # the tag; the list itself becomes the value (no second copy)
        for index, item in enumerate(node):
            node[index] = self.node(item)
        return node

    def _tuple(self, node: list) -> tuple:
        return tuple(self._list(node))

    def _complex(self, node: list) -> complex:
        real, imag = _fields(node, 2)
        if type(real) is not float or type(imag) is not float:
            raise UnsafeReply("a complex node needs two floats")
        return complex(real, imag)

    def _bytes(self, node: list) -> bytes:
        return bytes(self._take(*_fields(node, 2)))

    def _ndarray(self, node: list) -> np.ndarray:
        code, dims, offset, length = _fields(node, 4)
        dtype, shape = _dtype(code), _shape(dims)
        nonzero = math.prod(dim for dim in shape if dim) * dtype.itemsize
        if nonzero > _MAX_NBYTES or math.prod(shape) * dtype.itemsize != length:
            raise UnsafeReply(f"an array of shape {shape} and dtype {dtype} cannot fill "
                              f"{length!r:.40} bytes")
        raw = self._take(offset, length)
        return _checked_bools(np.frombuffer(raw, dtype).reshape(shape).copy())

    def _scalar(self, node: list) -> np.generic:
        code, offset, length = _fields(node, 3)
        dtype = _dtype(code)
        if length != dtype.itemsize:
            raise UnsafeReply(f"a scalar of dtype {dtype} cannot fill {length!r:.40} bytes")
        return _checked_bools(np.frombuffer(self._take(offset, length), dtype))[0]

    def _take(self, offset: Any, length: Any) -> memoryview:
        if type(offset) is not int or type(length) is not int:
            raise UnsafeReply("a buffer offset or length is not an int")
        if offset != self.position:
            raise UnsafeReply(f"a buffer starts at {offset!r:.40} where {self.position} was "
                              "expected (buffers overlap, leave gaps or are out of order)")
        if not 0 <= length <= self.area.nbytes - offset:
            raise UnsafeReply(f"a buffer of {length!r:.40} bytes at {offset} runs past the end")
        self.position = offset + length
        return self.area[offset:self.position]


def _fields(node: list, count: int) -> list:
    if len(node) != count + 1:
        raise UnsafeReply(f"a {node[0]} node has {len(node) - 1} fields, not {count}")
    return node[1:]


def _dtype(code: Any) -> np.dtype:
    # Looked up, never passed to np.dtype(): only allow-listed numeric dtypes exist here.
    dtype = _DTYPES.get(code) if type(code) is str else None
    if dtype is None:
        raise UnsafeReply(f"it names the dtype {str(code)[:40]!r}, not a bool, int, uint, "
                          "float or complex one")
    return dtype


def _shape(dims: Any) -> tuple[int, ...]:
    if type(dims) is not list or len(dims) > _MAX_DIMS:
        raise UnsafeReply(f"an array shape is not a list of at most {_MAX_DIMS} ints")
    if not all(type(dim) is int and 0 <= dim <= _MAX_NBYTES for dim in dims):
        raise UnsafeReply(f"an array shape has a dimension that is not an int in "
                          f"[0, {_MAX_NBYTES}]")
    return tuple(dims)


def _checked_bools(array: np.ndarray) -> np.ndarray:
    # A NumPy bool must be the byte 0 or 1; other bytes make comparisons and sums disagree.
    if array.dtype.kind == "b" and array.view(np.uint8).max(initial=0) > 1:
        raise UnsafeReply("a bool array holds bytes other than 0 and 1")
    return array
