"""Trusted references and case runners of assignment 01, shared by its public and hidden checks.

Every numeric check compares the student's values with a trusted reference computed here, on
the grader's side: SciPy for one image (`scipy.signal.correlate2d` / `convolve2d`), Keras'
`Conv2D`, `MaxPooling2D` and `AveragePooling2D` layers (and `tf.nn.conv2d`) for batches.
TensorFlow, Keras and SciPy are imported lazily, on first use, so collecting the checks stays
fast. Check files load this module with `course.sibling(__file__, "references")`.
"""

from __future__ import annotations

import functools
import os
import time
from typing import Any

import numpy as np

from autograder.checks import CheckFailed, assert_close
from autograder.proxy import StudentError
from course import sibling
from course.helpers.diagnosis import assert_close_or_diagnose

bugs = sibling(__file__, "bugs")

ATOL, RTOL = 1e-4, 1e-4  # float32 sums of up to ~100 products; errors are ~1e-6
ATOL_64 = 1e-8           # float64 images

HINT_CORRELATE = ("out[i, j] = sum(image[i:i+kh, j:j+kw] * kernel), the kernel not flipped; "
                  "the output has shape (H - kh + 1, W - kw + 1)")
HINT_CONVOLVE = "a convolution is a correlation with the kernel flipped in both axes"
HINT_CONV = ("compare with the formula in the conv2d docstring; kernel is (kh, kw, C_in, C_out) "
             "and every input channel and every image of the batch contributes")


# ---------------------------------------------------------------------------------------------
# Trusted references (imported lazily)
# ---------------------------------------------------------------------------------------------

@functools.cache
def tf_module() -> Any:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    return tf


@functools.cache
def keras_module() -> Any:
    tf_module()
    import keras

    return keras


@functools.cache
def scipy_signal() -> Any:
    import scipy.signal

    return scipy.signal


def case_rng(seed: int, check: int) -> np.random.Generator:
    """An independent stream per check, derived from the grading seed."""
    return np.random.default_rng([seed, check])


def ref_conv2d(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray | None,
               stride: int | tuple[int, int], padding: str) -> np.ndarray:
    """keras.layers.Conv2D with the given weights."""
    keras = keras_module()
    layer = keras.layers.Conv2D(kernel.shape[3], kernel.shape[:2], strides=stride,
                                padding=padding, use_bias=bias is not None, dtype=x.dtype.name)
    layer.build(x.shape)
    layer.set_weights([kernel] if bias is None else [kernel, bias])
    return np.asarray(layer(x))


def ref_pool(kind: str, x: np.ndarray, pool_size: int | tuple[int, int],
             stride: int | tuple[int, int] | None) -> np.ndarray:
    """keras.layers.MaxPooling2D or AveragePooling2D, valid padding."""
    keras = keras_module()
    layer_class = keras.layers.MaxPooling2D if kind == "max" else keras.layers.AveragePooling2D
    return np.asarray(layer_class(pool_size, strides=stride, dtype=x.dtype.name)(x))


def ref_output_size(size: int, kernel_size: int, stride: int, padding: str) -> int:
    """The length TensorFlow gives: the shape of a real tf.nn.conv2d output."""
    tf = tf_module()
    x = tf.zeros((1, size, 1, 1))
    kernel = tf.zeros((kernel_size, 1, 1, 1))
    return int(tf.nn.conv2d(x, kernel, (stride, 1), padding.upper()).shape[1])


# ---------------------------------------------------------------------------------------------
# Case descriptions and runners
# ---------------------------------------------------------------------------------------------

def conv_case(rng: np.random.Generator, n: int, h: int, w: int, c_in: int, c_out: int,
              kh: int, kw: int, stride: int | tuple[int, int] = 1, padding: str = "valid",
              bias: bool = False, dtype: Any = np.float32) -> dict[str, Any]:
    return {
        "x": rng.standard_normal((n, h, w, c_in)).astype(dtype),
        "kernel": rng.standard_normal((kh, kw, c_in, c_out)).astype(dtype),
        "bias": rng.standard_normal(c_out).astype(dtype) if bias else None,
        "stride": stride,
        "padding": padding,
    }


def describe_conv(case: dict[str, Any]) -> str:
    bias = "None" if case["bias"] is None else str(case["bias"].shape)
    return (f"conv2d(x {case['x'].shape} {case['x'].dtype}, kernel {case['kernel'].shape}, "
            f"bias {bias}, stride={case['stride']!r}, padding={case['padding']!r})")


def _conv_call(student: Any, case: dict[str, Any], hint: str) -> None:
    """Fail (CheckFailed, naming a catalogued bug where one matches) unless the student's
    conv2d gives Keras' result on `case`."""
    kwargs = {"bias": case["bias"], "stride": case["stride"], "padding": case["padding"]}
    got = student.conv2d(case["x"], case["kernel"], **kwargs)
    want = ref_conv2d(case["x"], case["kernel"], case["bias"], case["stride"], case["padding"])
    assert_close_or_diagnose(got, want, bugs.CONV2D, (case["x"], case["kernel"]), kwargs,
                             atol=ATOL, rtol=RTOL, what=describe_conv(case), hint=hint)


def check_conv_cases(student: Any, cases: list[dict[str, Any]], hint: str) -> None:
    """Each case against Keras' Conv2D. A failure no catalogued bug explains (wrong values,
    a wrong shape or an exception) is localised: the student's conv2d is called again on the
    case with one property simplified at a time (odd 'same' padding, a non-square kernel, the
    stride, the bias, the channels, the batch), and the first simplification it gets right is
    named."""
    for case in cases:
        try:
            _conv_call(student, case, hint)
        except (CheckFailed, StudentError) as failure:
            if isinstance(failure, CheckFailed) and failure.diagnosis or \
                    isinstance(failure, StudentError) and \
                    failure.isinstance_of("NotImplementedError"):
                raise
            found = localise_conv_failure(student, case)
            if found is None:
                raise
            message = failure.message if isinstance(failure, CheckFailed) else str(failure)
            raise CheckFailed(message, hint=found[1], diagnosis=found[0]) from None


def _probes(case: dict[str, Any]) -> list[tuple[dict[str, Any], str, str]]:
    """(simplified case, what the student reads, fix) for every property `case` has."""
    x, kernel, stride = case["x"], case["kernel"], case["stride"]
    kh, kw = kernel.shape[:2]
    probes = []
    if case["padding"] == "same":
        odd = [bugs.same_pads(x.shape[axis], kernel.shape[axis - 1], s) % 2
               for axis, s in zip((1, 2), bugs.pair(stride), strict=True)]
        if any(odd):
            shape = (kh + odd[0], kw + odd[1], *kernel.shape[2:])
            grown = np.random.default_rng(0).standard_normal(shape).astype(kernel.dtype)
            probes.append((case | {"kernel": grown},
                           "conv2d fails here but is right on the same input when 'same' "
                           "padding adds an even number of zeros: the extra zero of an odd "
                           "pad_total is misplaced or missing.",
                           "pad_before = pad_total // 2 and pad_after = pad_total - pad_before "
                           "(the extra zero goes at the bottom/right)"))
    if kh != kw:
        side = min(kh, kw)
        probes.append((case | {"kernel": kernel[:side, :side]},
                       "conv2d fails with this non-square kernel but is right with a square "
                       "one: kh and kw are swapped somewhere.",
                       "the kernel is (kh, kw, C_in, C_out): windows of kh rows by kw columns, "
                       "sliding_window_view(x, (kh, kw), axis=(1, 2))"))
    if bugs.pair(stride) != (1, 1):
        probes.append((case | {"stride": 1},
                       "conv2d fails with this stride but is right on the same input with "
                       "stride 1: the stride is misapplied.",
                       "windows start at rows 0, stride_h, 2 * stride_h, ...; H_out = "
                       "output_size(H, kh, stride_h, padding)"))
    if case["bias"] is not None:
        probes.append((case | {"bias": None},
                       "conv2d fails with a bias but is right without one: the bias is added "
                       "wrongly.",
                       "bias has shape (C_out,): out += bias broadcasts along the last "
                       "(channel) axis"))
    if x.shape[3] > 1:
        probes.append((case | {"x": x[..., :1], "kernel": kernel[:, :, :1]},
                       "conv2d fails with several input channels but is right with one: the "
                       "input channels are combined wrongly.",
                       "sum over u, v and every input channel d, with windows and kernel "
                       "flattened in the same (kh, kw, C_in) order"))
    if x.shape[0] > 1:
        probes.append((case | {"x": x[:1]},
                       "conv2d fails on a batch but is right on its first image alone: the "
                       "batch axis is mixed up.",
                       "every image of x (N, H, W, C_in) is independent: keep N as the first "
                       "axis"))
    return probes


def localise_conv_failure(student: Any, case: dict[str, Any]) -> tuple[str, str] | None:
    """(what the student reads, fix) of the first simplification of a failing `case` that the
    student's conv2d gets right, or None. Runs only after a failure, so correct code never
    sees it; an error in a probe only means that probe is not right."""
    for probe, says, fix in _probes(case):
        try:
            _conv_call(student, probe, "")
        except (CheckFailed, StudentError):
            continue
        return says, fix
    return None


def check_pool_cases(student: Any, kind: str, cases: list[tuple], hint: str) -> None:
    name = f"{kind}_pool2d"
    for x, pool_size, stride in cases:
        got = getattr(student, name)(x, pool_size=pool_size, stride=stride)
        want = ref_pool(kind, x, pool_size, stride)
        catalogue = bugs.MAX_POOL2D if kind == "max" else bugs.AVG_POOL2D
        assert_close_or_diagnose(
            got, want, catalogue, (x,), {"pool_size": pool_size, "stride": stride},
            atol=1e-6, rtol=1e-6, hint=hint,
            what=f"{name}(x {x.shape}, pool_size={pool_size!r}, stride={stride!r})")


def check_2d_cases(student: Any, name: str, cases: list[tuple[np.ndarray, np.ndarray]],
                   hint: str) -> None:
    reference = getattr(scipy_signal(), name)
    for image, kernel in cases:
        got = getattr(student, name)(image, kernel)
        want = reference(image, kernel, mode="valid")
        catalogue = bugs.CORRELATE2D if name == "correlate2d" else bugs.CONVOLVE2D
        assert_close_or_diagnose(got, want, catalogue, (image, kernel), {}, atol=ATOL_64,
                                 rtol=1e-10, hint=hint,
                                 what=f"{name}(image {image.shape}, kernel {kernel.shape})")


def random_2d_cases(rng: np.random.Generator,
                    shapes: list[tuple[tuple[int, int], tuple[int, int]]]) -> list[tuple]:
    return [(rng.standard_normal(image), rng.standard_normal(kernel)) for image, kernel in shapes]


SHAPES_2D = [((7, 9), (3, 3)), ((8, 8), (2, 2)), ((6, 10), (2, 5)), ((9, 5), (4, 1)),
             ((12, 11), (5, 3)), ((5, 5), (1, 3))]


def reference_cpu_seconds(x: np.ndarray, kernel: np.ndarray,
                          repeats: int) -> tuple[np.ndarray, float]:
    """A vectorised valid conv2d run here, on the trusted side: (its result, best CPU time).

    One matrix product per kernel offset, the fastest NumPy form for few channels. Its CPU
    time is this process's (time.process_time), the same kernel count as the worker's.
    """
    kh, kw = kernel.shape[:2]
    h_out, w_out = x.shape[1] - kh + 1, x.shape[2] - kw + 1
    best, out = float("inf"), None
    for _ in range(repeats):
        start = time.process_time()
        out = np.zeros((x.shape[0], h_out, w_out, kernel.shape[3]), x.dtype)
        for u in range(kh):
            for v in range(kw):
                out += x[:, u:u + h_out, v:v + w_out, :] @ kernel[u, v]
        best = min(best, time.process_time() - start)
    return out, best


SOBEL_X = np.array([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])


def reference(name: str, *args: Any, **kwargs: Any) -> Any:
    """The trusted result of the graded function `name` called with these arguments."""
    if name in ("correlate2d", "convolve2d"):
        return getattr(scipy_signal(), name)(*args, mode="valid")
    if name == "conv2d":
        x, kernel, *rest = args
        bias = rest[0] if rest else kwargs.get("bias")
        return ref_conv2d(x, kernel, bias, kwargs.get("stride", 1),
                          kwargs.get("padding", "valid"))
    if name in ("max_pool2d", "avg_pool2d"):
        return ref_pool(name[:3], args[0], kwargs.get("pool_size", 2), kwargs.get("stride"))
    if name == "relu":
        return np.maximum(args[0], 0)
    if name == "edge_magnitude":
        image = np.asarray(args[0], np.float64)
        return np.hypot(scipy_signal().correlate2d(image, SOBEL_X, mode="valid"),
                        scipy_signal().correlate2d(image, SOBEL_X.T, mode="valid"))
    if name == "box_blur":
        return np.full((args[0], args[0]), 1.0 / args[0] ** 2)
    if name == "sharpen":
        return np.array([[0.0, -1.0, 0.0], [-1.0, 5.0, -1.0], [0.0, -1.0, 0.0]])
    if name == "sobel":
        return SOBEL_X, SOBEL_X.T
    raise ValueError(f"no reference for {name}")


def check_value(got: Any, name: str, args: tuple, kwargs: dict, *, what: str,
                hint: str) -> None:
    """Fail (CheckFailed) unless `got` equals the trusted reference of the call."""
    assert_close(got, reference(name, *args, **kwargs), atol=ATOL, rtol=RTOL, what=what,
                 hint=hint)
