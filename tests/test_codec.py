"""Tests of autograder.codec: requests are pickle (trusted); replies are a data-only frame that
the grader decodes without running code, hanging, crashing or allocating more than it received.
Fast: the whole file runs in a few seconds."""

from __future__ import annotations

import json
import math
import os
import pickle
import random
import struct
import time
import tracemalloc
from collections import OrderedDict, namedtuple
from enum import IntEnum
from typing import Any

import numpy as np
import pytest

from autograder import codec
from autograder.codec import (
    UnsafeReply,
    decode_reply,
    decode_request,
    encode_reply,
    encode_request,
)

NUMERIC_DTYPES = ["?", "i1", "u1", "<i2", ">i2", "<i4", ">i4", "<i8", ">i8", "<u2", ">u2",
                  "<u4", ">u4", "<u8", ">u8", "<f2", ">f2", "<f4", ">f4", "<f8", ">f8",
                  "<c8", ">c8", "<c16", ">c16"]


def _frame(document: str | bytes, area: bytes = b"") -> bytes:
    """A frame with a correct header around any document and buffer area."""
    if isinstance(document, str):
        document = document.encode()
    return struct.pack("<8sQQ", b"AGREPLY1", len(document), len(area)) + document + area


def _array_frame(code: Any, shape: Any, offset: Any = 0, length: Any = None,
                 area: bytes | None = None) -> bytes:
    """A frame holding one ["ndarray", ...] node, consistent unless told otherwise."""
    if length is None:
        length = math.prod(shape) * np.dtype(code).itemsize
    if area is None:
        area = bytes(length)
    return _frame(json.dumps(["ndarray", code, shape, offset, length]), area)


def _assert_identical(got: Any, want: Any) -> None:
    """Equal, of exactly the same types (tuple is not list), nan equal to nan, -0.0 kept."""
    assert type(got) is type(want), (got, want)
    if isinstance(want, np.ndarray | np.generic):
        assert got.dtype == want.dtype and got.shape == want.shape
        assert got.tobytes() == want.tobytes()  # bit for bit, nan payloads included
    elif isinstance(want, float | complex):
        assert repr(got) == repr(want)
    elif isinstance(want, list | tuple):
        assert len(got) == len(want)
        for g, w in zip(got, want, strict=True):
            _assert_identical(g, w)
    elif isinstance(want, dict):
        assert list(got) == list(want)  # same keys in the same order
        for key in want:
            _assert_identical(got[key], want[key])
    else:
        assert got == want


def _nested(depth: int, leaf: Any) -> Any:
    for _ in range(depth):
        leaf = [leaf]
    return leaf


def _seconds(function: Any, *args: Any) -> float:
    start = time.perf_counter()
    function(*args)
    return time.perf_counter() - start


# -- round trips -----------------------------------------------------------------------------


@pytest.mark.parametrize("value", [
    None, True, False, 0, -1, 2**63, -(10**4299), 1.5, -0.0, 5e-324, float("inf"),
    float("-inf"), float("nan"), complex(1, -2), complex(float("nan"), float("-inf")),
    "", "text", "ünïcödé ☃ 𝄞", "\ud800 lone surrogate", 'quote " backslash \\ \\" \x00 \n',
    "[[[{{{" * 1000, b"", bytes(range(256)), [], (), (1,), [1, [2, (3,)]], ((1, 2), [3, 4]),
    {}, {"b": 1, "a": (2, [3.0, None])}, {"": {"[": {"\\": "]"}}},
    ("ok", {"loss": [0.5, 0.25], "weights": np.ones((2, 3), np.float32), "n": np.int64(7)}),
], ids=lambda value: repr(value)[:30])
def test_plain_values_round_trip_with_their_exact_types(value):
    """Does every supported value come back equal and of exactly the same type (tuple stays
    tuple, nan stays nan, -0.0 keeps its sign, dict keys keep their order)?"""
    _assert_identical(decode_reply(encode_reply(value)), value)


@pytest.mark.parametrize("code", NUMERIC_DTYPES)
@pytest.mark.parametrize("layout", ["0-d", "empty", "C", "fortran", "transposed", "strided"])
def test_arrays_round_trip_with_their_dtype_byte_order_and_shape(code, layout):
    """Does an array of every allowed dtype (both byte orders) come back bit for bit with the
    same dtype and shape, whatever its memory layout?"""
    base = (np.arange(24).reshape(2, 3, 4) % 3).astype(code)
    array = {"0-d": base[1, 2, 3, ...], "empty": base[:, :0], "C": base,
             "fortran": np.asfortranarray(base), "transposed": base.T,
             "strided": base[:, ::2, 1:]}[layout]
    got = decode_reply(encode_reply(array))
    _assert_identical(got, array)
    assert got.dtype.str == np.dtype(code).str


@pytest.mark.parametrize("shape", [(1,) * 32, (0, 5), (5, 0, 2**40), (3,)])
def test_arrays_of_unusual_shapes_round_trip(shape):
    """Do arrays with 32 dimensions, or empty with huge other dimensions, round-trip?"""
    array = np.zeros(shape, np.float64)
    _assert_identical(decode_reply(encode_reply(array)), array)


@pytest.mark.parametrize("code", NUMERIC_DTYPES)
def test_numpy_scalars_come_back_as_numpy_scalars_of_their_dtype(code):
    """Does np.float32(1.5) stay np.float32 (and likewise for every allowed dtype)?"""
    scalar = np.array(1, np.dtype(code)).astype(np.dtype(code).newbyteorder("="))[()]
    got = decode_reply(encode_reply([scalar]))[0]
    assert type(got) is type(scalar) and got.dtype == scalar.dtype and got == scalar


def test_decoded_arrays_are_writable_copies_that_do_not_share_the_frame():
    """Is a decoded array its own writable, aligned copy, so that writing to it changes
    neither the frame nor another decode of the same frame?"""
    frame = encode_reply(np.arange(5.0))
    first, second = decode_reply(frame), decode_reply(frame)
    assert first.flags.writeable and first.flags.owndata and first.flags.aligned
    first[:] = -1
    assert list(second) == [0, 1, 2, 3, 4]
    assert decode_reply(frame).tolist() == [0, 1, 2, 3, 4]


def test_values_nested_up_to_the_limit_round_trip_and_deeper_ones_are_refused():
    """Do 100 nested lists round-trip (an array at the bottom included), while 101 nested
    lists and a list containing itself are refused by encode_reply with a ValueError?"""
    deepest = _nested(100, np.zeros((1, 1)))
    _assert_identical(decode_reply(encode_reply(deepest)), deepest)
    with pytest.raises(ValueError, match="more than 100 levels deep"):
        encode_reply(_nested(101, 0))
    itself: list = []
    itself.append(itself)
    with pytest.raises(ValueError, match="contains itself"):
        encode_reply(itself)


def test_requests_are_pickled():
    """Do requests (trusted) round-trip through pickle, objects included?"""
    request = ("call", "norm", (np.arange(3), {1, 2}), {"axis": slice(1, 2)})
    got = decode_request(encode_request(request))
    assert got[:2] == request[:2] and got[2][1] == {1, 2} and got[3] == request[3]
    assert np.array_equal(got[2][0], request[2][0])


# -- what encode_reply refuses -----------------------------------------------------------------

Point = namedtuple("Point", "x y")


class Level(IntEnum):
    LOW = 1


@pytest.mark.parametrize(("value", "message"), [
    (np.array([1, "a"], dtype=object), "dtype object"),
    (np.zeros(2, [("a", "<i4")]), r"dtype \[\('a', '<i4'\)\]"),
    (np.array(["ab"]), "dtype <U2"),
    (np.array(["2024-01-01"], "datetime64[D]"), "dtype datetime64"),
    (np.zeros(2, np.longdouble), "dtype float128|dtype longdouble"),
    ({1, 2}, "type set .*sorted"),
    (frozenset(), "type frozenset"),
    (object(), "type object"),
    (len, "type builtin_function_or_method"),
    (bytearray(b"x"), r"type bytearray.*bytes\(x\)"),
    (range(3), "type range"),
    (slice(1), "type slice"),
    (Point(1, 2), r"type \S*Point.*tuple\(x\)"),
    (OrderedDict(a=1), r"type collections.OrderedDict.*dict\(x\)"),
    (Level.LOW, r"type \S*Level.*int\(x\)"),
    (np.str_("x"), r"type numpy.str_.*str\(x\)"),
    (np.datetime64("2024-01-01"), "type numpy.datetime64"),
    (np.ma.masked_array([1, 2]), r"MaskedArray.*np.asarray\(x\)"),
    ({"ok": [1, {"deep": {3}}]}, "type set"),
    ({1: "a"}, "dict keys must be str, not int"),
    ({(1, 2): "a"}, "dict keys must be str, not tuple"),
    ({np.str_("a"): 1}, "dict keys must be str, not numpy.str_"),
], ids=lambda v: None if isinstance(v, str) else type(v).__name__)
def test_encode_reply_refuses_what_the_format_cannot_hold_with_a_type_error(value, message):
    """Does encode_reply raise a TypeError naming the type, and saying what to return, for
    object, structured, string and date arrays, sets, arbitrary objects, subclasses of the
    supported types and dicts with non-str keys?"""
    with pytest.raises(TypeError, match=message):
        encode_reply(value)


def test_ints_and_arrays_beyond_the_limits_are_refused_on_encode():
    """Are an int of more than 4300 digits and an array of 33 dimensions refused with a
    ValueError, while an int of exactly 4300 digits round-trips?"""
    with pytest.raises(ValueError, match="more than 4300 digits"):
        encode_reply(10**4300)
    assert decode_reply(encode_reply(10**4300 - 1)) == 10**4300 - 1
    with pytest.raises(ValueError, match="33 dimensions"):
        encode_reply(np.zeros((1,) * 33))


def test_a_structure_over_the_size_cap_is_refused_on_both_sides(monkeypatch):
    """Is a reply whose JSON structure is over the cap refused by encode_reply (ValueError: put
    the numbers in arrays) and by decode_reply (UnsafeReply)?"""
    value = list(range(1000))
    frame = encode_reply(value)
    monkeypatch.setattr(codec, "_MAX_DOCUMENT_BYTES", 1000)
    with pytest.raises(ValueError, match="put bulk numbers in NumPy arrays"):
        encode_reply(value)
    with pytest.raises(UnsafeReply, match="at most 1000"):
        decode_reply(frame)


# -- hostile replies ---------------------------------------------------------------------------


@pytest.mark.parametrize("document", [
    "[" * 10**6,
    '["list",' * 10**4 + "1" + "]" * 10**4,
    '{"a":' * 10**4 + "1" + "}" * 10**4,
    '["list","\\\\",' + "[" * 10**4,  # an escaped backslash, then the string ends
    '["list","\\\\\\"",' + "[" * 10**4,  # an escaped backslash and an escaped quote
    '["list","' + "\\" * 10**5 + '",' + "[" * 10**4,  # a run of backslashes of even length
], ids=["brackets", "lists", "dicts", "after-escaped-backslash", "after-escapes",
        "after-backslash-run"])
def test_a_reply_nested_thousands_deep_is_refused_quickly(document):
    """Does a reply nested 10,000 (or a million) deep raise UnsafeReply quickly, without
    recursion, even when escapes inside strings try to hide the brackets?"""
    frame = _frame(document)
    with pytest.raises(UnsafeReply, match="nested more than 102 levels"):
        decode_reply(frame)
    assert _seconds(lambda: pytest.raises(UnsafeReply, decode_reply, frame)) < 1


def test_brackets_and_escaped_quotes_inside_strings_are_not_nesting():
    """Is a string holding 10,000 brackets, escaped quotes and backslashes decoded as a
    string, not refused as deep nesting?"""
    text = '\\"[{' * 10**4 + "\\"
    assert decode_reply(encode_reply(["x", text])) == ["x", text]
    assert decode_reply(_frame('["list","\\"' + "[" * 10**4 + '"]')) == ['"' + "[" * 10**4]


def test_nesting_just_at_the_decoder_limit_is_accepted_and_one_more_is_refused():
    """Is a document of 102 levels (100 containers, an array node and its shape) decoded and
    one of 103 levels refused?"""
    assert decode_reply(_frame('["list",' * 101 + '["list"]' + "]" * 101)) == _nested(101, [])
    with pytest.raises(UnsafeReply, match="nested more than 102"):
        decode_reply(_frame('["list",' * 102 + '["list"]' + "]" * 102))


def test_more_than_a_million_containers_are_refused_before_parsing():
    """Are 2**20 + 1 empty dicts (3 MiB of JSON that would take ~250 MiB as Python objects)
    refused before json.loads builds them?"""
    frame = _frame('["list"' + ",{}" * (2**20 + 1) + "]")
    tracemalloc.start()
    try:
        with pytest.raises(UnsafeReply, match="more than 1048576 lists and dicts"):
            decode_reply(frame)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 3 * len(frame)


def test_a_100_byte_frame_declaring_a_huge_array_allocates_nothing():
    """Is a 100-byte frame declaring a (10**6, 10**6) float64 array refused at once, with
    no allocation near its declared 8 TB, whether it declares the true or a false length?"""
    for length in (8, 8 * 10**12):
        frame = _array_frame("<f8", [10**6, 10**6], length=length, area=bytes(8))
        assert len(frame) < 100
        tracemalloc.start()
        try:
            with pytest.raises(UnsafeReply):
                decode_reply(frame)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 64 * 1024


@pytest.mark.parametrize("code", [
    "|O", "|O8", "O", "V8", "|V8", "<U4", "|S4", "<M8[ns]", "<m8", "<f16", "=f8", "f8",
    "float64", "<i4,<i4", [["a", "<i4"]], {"names": ["a"]}, 5, None, "<" + "f" * 10**5,
])
def test_dtypes_outside_the_numeric_allow_list_are_refused(code):
    """Are object, void, string, date, long double, structured and non-canonical dtype codes
    refused as UnsafeReply, for arrays and for scalars?"""
    with pytest.raises(UnsafeReply, match="dtype"):
        decode_reply(_array_frame(code, [1], length=8, area=bytes(8)))
    with pytest.raises(UnsafeReply, match="dtype"):
        decode_reply(_frame(json.dumps(["scalar", code, 0, 8]), bytes(8)))


@pytest.mark.parametrize(("document", "area"), [
    ('["bytes",-1,4]', bytes(4)),
    ('["bytes",1,3]', bytes(4)),  # a gap before the first buffer
    ('["bytes",18446744073709551616,4]', bytes(4)),
    ('["bytes",0,18446744073709551616]', bytes(4)),
    ('["bytes",0,-4]', bytes(4)),
    ('["bytes",0,5]', bytes(4)),
    ('["bytes",0.0,4]', bytes(4)),
    ('["bytes",false,4]', bytes(4)),
    ('["bytes","0",4]', bytes(4)),
    ('["bytes",0,4.0]', bytes(4)),
    ('["bytes",0,null]', bytes(4)),
    ('["bytes",0,Infinity]', bytes(4)),
    ('["tuple",["bytes",0,4],["bytes",0,4]]', bytes(4)),  # overlapping
    ('["tuple",["bytes",0,4],["bytes",2,4]]', bytes(6)),  # overlapping
    ('["tuple",["bytes",4,4],["bytes",0,4]]', bytes(8)),  # out of order
    ('["bytes",0,4]', bytes(5)),  # bytes after the last buffer
    ('["list"]', bytes(1)),
    ('["scalar","<f8",0,4]', bytes(4)),
    ('["scalar","<f8",0,true]', bytes(8)),
], ids=lambda v: v if isinstance(v, str) else f"{len(v)}-bytes")
def test_bad_buffer_references_are_refused(document, area):
    """Are negative, overflowing, non-int, overlapping, out-of-order, out-of-range and
    gap-leaving buffer references, and unused trailing bytes, refused as UnsafeReply?"""
    with pytest.raises(UnsafeReply):
        decode_reply(_frame(document, area))


@pytest.mark.parametrize(("shape", "length"), [
    ([-1], 0), ([True], 8), ([1.0], 8), ("1", 8), ([[1]], 8), ({"0": 1}, 8), ([1] * 33, 8),
    ([0, 2**62, 2**62], 0), ([2**64], 0), ([2], 8), ([10**4000], 8),
])
def test_bad_shapes_are_refused(shape, length):
    """Are negative, non-int, too many, overflowing and size-mismatched dimensions refused?"""
    with pytest.raises(UnsafeReply):
        decode_reply(_array_frame("<f8", shape, length=length, area=bytes(length)))


@pytest.mark.parametrize("document", [
    "", " ", "[]", "[1,2]", '["set",1]', '["LIST"]', "[null]", "[[\"list\"]]",
    '["complex",1,2]', '["complex",1.0]', '["complex",1.0,"2"]', '["tuple"',
    '["list"] []', "{'a': 1}", '{"a":1,"a":2}', '["list",' + "9" * 4301 + "]",
    '["list",-' + "9" * 10**6 + "]", '["list",' + "1" * 40 + ".5]", '["list","\xe9"]',
    '["list","\ud800"]', "NaN]", '"unterminated', '["list","' + "\\" * 99 + '"]',
    '["list",\\"[[[[]',
], ids=lambda d: d[:30])
def test_malformed_documents_are_refused(document):
    """Are invalid JSON, unknown or missing tags, wrong field counts, repeated dict keys,
    over-long numbers and non-ASCII bytes refused as UnsafeReply?"""
    with pytest.raises(UnsafeReply):
        decode_reply(_frame(document.encode("utf-8", "surrogatepass")))


def test_frames_with_a_bad_header_are_refused():
    """Are empty, short, wrongly labelled, mis-sized and over-long frames refused?"""
    good = encode_reply([1, b"abc"])
    bad = [b"", b"AGREPLY1", b"BGREPLY1" + good[8:], good + b"\0", good[:-1],
           struct.pack("<8sQQ", b"AGREPLY1", 2**64 - 1, 0) + good[24:],
           struct.pack("<8sQQ", b"AGREPLY1", 2**25, 0) + bytes(2**25)]
    for frame in bad:
        with pytest.raises(UnsafeReply):
            decode_reply(frame)
    with pytest.raises(UnsafeReply, match="over the limit of 20"):
        decode_reply(good, max_bytes=20)


def test_every_truncation_of_a_valid_frame_is_refused():
    """Is a small valid frame cut at every byte refused as UnsafeReply?"""
    frame = encode_reply(("ok", {"a": [1, 2.5, "x"], "b": np.arange(3, dtype=np.int16),
                                 "c": b"xyz", "d": np.float32(2)}))
    for end in range(len(frame)):
        with pytest.raises(UnsafeReply):
            decode_reply(frame[:end])


def _mutate(data: bytes, rng: random.Random, alphabet: bytes) -> bytes:
    """data with 1 to 4 bytes changed, inserted or removed (new bytes drawn from alphabet)."""
    data = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        where = rng.randrange(len(data) + 1)
        action = rng.random()
        if action < 0.6 and where < len(data):
            data[where] = rng.choice(alphabet)
        elif action < 0.8:
            data.insert(where, rng.choice(alphabet))
        elif where < len(data):
            del data[where]
    return bytes(data)


def test_random_corruption_gives_a_value_or_unsafe_reply_and_nothing_else():
    """Do 4,000 random corruptions of a valid frame (any bytes anywhere; JSON-like characters
    in the structure with a header that still fits; any bytes in the buffers) each decode to a
    value or raise UnsafeReply, never another exception?"""
    frame = encode_reply(("ok", {"a": [1, -2.5, "x\\\"[", (None, True)], "z": complex(1, 2),
                                 "b": np.arange(6, dtype=">i4").reshape(2, 3),
                                 "c": b"xyz", "d": np.float16(2), "e": np.ones(2, bool)}))
    size = struct.unpack_from("<Q", frame, 8)[0]
    document, area = frame[24:24 + size], frame[24 + size:]
    json_like = b'[]{}",:0123456789-+.eE\\ truefalsnulNaInityoklistupebcmxdarys<>|?'
    rng = random.Random(20240501)
    outcomes = {"value": 0, "refused": 0}
    for attempt in range(4000):
        if attempt % 4 == 0:
            corrupt = _mutate(frame, rng, bytes(range(256)))
        elif attempt % 4 == 3:
            corrupt = _frame(document, _mutate(area, rng, bytes(range(256))))
        else:
            corrupt = _frame(_mutate(document, rng, json_like), area)
        try:
            decode_reply(corrupt)
            outcomes["value"] += 1
        except UnsafeReply:
            outcomes["refused"] += 1
    assert outcomes["value"] > 100 and outcomes["refused"] > 1000


class _RunsCommand:
    """Unpickling this would run a shell command (the classic pickle exploit)."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_a_pickle_payload_is_refused_and_never_runs(protocol, tmp_path):
    """Is a pickle (here one that would call os.system, and a plain list) refused as
    UnsafeReply, at any protocol, without running anything?"""
    marker = tmp_path / "pwned"
    for value in (_RunsCommand(str(marker)), [1, 2, 3]):
        with pytest.raises(UnsafeReply, match="not the magic"):
            decode_reply(pickle.dumps(value, protocol=protocol))
    assert not marker.exists()


def test_bool_buffers_may_only_hold_0_and_1():
    """Is a bool array or scalar whose bytes are not 0 or 1 refused?"""
    with pytest.raises(UnsafeReply, match="bool"):
        decode_reply(_array_frame("|b1", [3], area=b"\x00\x01\x02"))
    with pytest.raises(UnsafeReply, match="bool"):
        decode_reply(_frame('["scalar","|b1",0,1]', b"\xff"))


def test_an_unsafe_reply_says_what_was_wrong_and_what_to_return():
    """Does the message name the problem and list what a function may return?"""
    with pytest.raises(UnsafeReply) as caught:
        decode_reply(_frame('["set",1]'))
    message = str(caught.value)
    assert "unknown node 'set'" in message and "NumPy arrays" in message
    assert caught.value.problem == "it holds an unknown node 'set'"


# -- cost ------------------------------------------------------------------------------------


def test_decoding_a_100_MB_array_costs_about_100_MB():
    """Does decoding a 100 MB array allocate one copy of it (about 100 MB) and no more?"""
    array = np.arange(100 * 2**20 // 8, dtype=np.float64)
    frame = encode_reply(("ok", array))
    tracemalloc.start()
    try:
        got = decode_reply(frame)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert array.nbytes <= peak < array.nbytes + 2**20
    assert np.array_equal(got[1], array)
