"""The catalogue of plausible bugs of assignment 01, for the checks' diagnoses.

Each `Bug` computes, with trusted NumPy code on the grader's side, what a function with that
bug returns on the check's inputs (see course/helpers/diagnosis.py). Every buggy variant of
tests/fixtures/conv_variants/buggy.py must be named by its first failed check
(tests/test_01_discrimination.py); the other entries are further plausible bugs. Order
matters: the first matching bug is named.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from course.helpers.diagnosis import Bug


def pair(value: Any) -> tuple[int, int]:
    return (int(value[0]), int(value[1])) if isinstance(value, tuple | list) else (value, value)


def same_pads(size: int, k: int, stride: int) -> int:
    """TensorFlow's pad_total of one axis for 'same' padding."""
    out = -(-size // stride)
    return max((out - 1) * stride + k - size, 0)


def conv(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray | None = None,
         stride: Any = 1, pads: tuple[tuple[int, int], tuple[int, int]] = ((0, 0), (0, 0)),
         ) -> np.ndarray:
    """Cross-correlation of a batch with explicit zero pads, in float64: the building block
    of every conv2d bug (raises ValueError when the kernel does not fit)."""
    x = np.pad(np.asarray(x, np.float64), ((0, 0), *pads, (0, 0)))
    kernel = np.asarray(kernel, np.float64)
    sh, sw = pair(stride)
    kh, kw = kernel.shape[:2]
    if kh > x.shape[1] or kw > x.shape[2]:
        raise ValueError("the kernel does not fit")
    windows = sliding_window_view(x, (kh, kw), axis=(1, 2))[:, ::sh, ::sw]
    out = np.einsum("nhwduv,uvdc->nhwc", windows, kernel)
    return out if bias is None else out + np.asarray(bias, np.float64)


def tf_pads(x: np.ndarray, kernel: np.ndarray, stride: Any, padding: str,
            ) -> tuple[tuple[int, int], tuple[int, int]]:
    """(before, after) zeros along H and W, as TensorFlow pads."""
    if padding == "valid":
        return (0, 0), (0, 0)
    totals = [same_pads(x.shape[axis], kernel.shape[axis - 1], s)
              for axis, s in zip((1, 2), pair(stride), strict=True)]
    return (totals[0] // 2, totals[0] - totals[0] // 2), (totals[1] // 2,
                                                          totals[1] - totals[1] // 2)


def right_conv(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray | None = None,
               stride: Any = 1, padding: str = "valid") -> np.ndarray:
    return conv(x, kernel, bias, stride, tf_pads(x, kernel, stride, padding))


def _padded(pick: Any) -> Any:
    """A conv2d whose 'same' padding splits each pad_total with `pick(total)` -> (before, after)."""
    def output(x: np.ndarray, kernel: np.ndarray, bias: Any = None, stride: Any = 1,
               padding: str = "valid") -> np.ndarray:
        if padding != "same":
            raise ValueError("only 'same' padding has this bug")
        pad_h, pad_w = (sum(pads) for pads in tf_pads(x, kernel, stride, padding))
        return conv(x, kernel, bias, stride, (pick(pad_h), pick(pad_w)))
    return output


def _im2col_windows_first(kernel: np.ndarray) -> np.ndarray:
    """The kernel a conv2d really applies when its windows are flattened as (C_in, kh, kw) but
    its kernel as (kh, kw, C_in)."""
    kh, kw, c_in, c_out = kernel.shape
    return kernel.reshape(c_in, kh, kw, c_out).transpose(1, 2, 0, 3)


def _im2col_kernel_first(kernel: np.ndarray) -> np.ndarray:
    """The same mismatch the other way: windows as (kh, kw, C_in), kernel as (C_in, kh, kw)."""
    kh, kw, c_in, c_out = kernel.shape
    return kernel.transpose(2, 0, 1, 3).reshape(kh, kw, c_in, c_out)


def _bias_along(axis: int) -> Any:
    def output(x: np.ndarray, kernel: np.ndarray, bias: Any = None, stride: Any = 1,
               padding: str = "valid") -> np.ndarray:
        if bias is None:
            raise ValueError("no bias")
        shape = [1, 1, 1, 1]
        shape[axis] = -1
        return right_conv(x, kernel, None, stride, padding) + np.reshape(bias, shape[1:])
    return output


def _bias_missing(x: np.ndarray, kernel: np.ndarray, bias: Any = None, stride: Any = 1,
                  padding: str = "valid") -> np.ndarray:
    if bias is None:
        raise ValueError("no bias")
    return right_conv(x, kernel, None, stride, padding)


def _cropped(formula: Any) -> Any:
    def output(x: np.ndarray, kernel: np.ndarray, bias: Any = None, stride: Any = 1,
               padding: str = "valid") -> np.ndarray:
        if padding != "valid":
            raise ValueError("valid padding only")
        (sh, sw), (kh, kw) = pair(stride), kernel.shape[:2]
        full = right_conv(x, kernel, bias, stride, padding)
        return full[:, :formula(x.shape[1], kh, sh), :formula(x.shape[2], kw, sw)]
    return output


CONV2D = (
    Bug("Your output equals conv2d with the kernel flipped: that is convolution, not "
        "cross-correlation (Keras' Conv2D does not flip the kernel).",
        "use kernel[u, v, d, c] as it is, not kernel[::-1, ::-1]",
        lambda x, kernel, bias=None, stride=1, padding="valid":
        right_conv(x, kernel[::-1, ::-1], bias, stride, padding)),
    Bug("Your output equals conv2d with the windows flattened in the order (C_in, kh, kw) "
        "while the kernel is flattened as (kh, kw, C_in): im2col's axis order differs.",
        "transpose the windows of sliding_window_view, (N, H_out, W_out, C_in, kh, kw), to "
        "(N, H_out, W_out, kh, kw, C_in) before reshaping them to rows",
        lambda x, kernel, bias=None, stride=1, padding="valid":
        right_conv(x, _im2col_windows_first(kernel), bias, stride, padding)),
    Bug("Your output equals conv2d with the kernel flattened in the order (C_in, kh, kw) "
        "while the windows are flattened as (kh, kw, C_in): im2col's axis order differs.",
        "reshape the kernel (kh, kw, C_in, C_out) directly to (kh * kw * C_in, C_out), in the "
        "same (kh, kw, C_in) order as the windows",
        lambda x, kernel, bias=None, stride=1, padding="valid":
        right_conv(x, _im2col_kernel_first(kernel), bias, stride, padding)),
    Bug("Your output equals conv2d with the kernel's kh and kw axes swapped.",
        "the kernel is (kh, kw, C_in, C_out): kernel[u, v] multiplies x[i + u, j + v]",
        lambda x, kernel, bias=None, stride=1, padding="valid":
        right_conv(x, kernel.transpose(1, 0, 2, 3), bias, stride, padding)),
    Bug("Your 'same' padding puts the extra zero at the top/left: TensorFlow puts it at the "
        "bottom/right, so every output is shifted by one pixel.",
        "pad_before = pad_total // 2 and pad_after = pad_total - pad_before",
        _padded(lambda total: (total - total // 2, total // 2))),
    Bug("Your 'same' padding adds pad_total // 2 zeros on both sides (symmetric): when "
        "pad_total is odd, the extra zero is missing.",
        "pad_before = pad_total // 2 and pad_after = pad_total - pad_before (one more)",
        _padded(lambda total: (total // 2, total // 2))),
    Bug("Your 'same' padding adds (pad_total + 1) // 2 zeros on both sides (symmetric): when "
        "pad_total is odd, there is one zero too many at the top/left.",
        "pad_before = pad_total // 2 and pad_after = pad_total - pad_before",
        _padded(lambda total: ((total + 1) // 2, (total + 1) // 2))),
    Bug("Your output equals conv2d with stride 1: the stride is ignored.",
        "step the windows by the stride ([:, ::stride_h, ::stride_w]) and compute H_out and "
        "W_out with it",
        lambda x, kernel, bias=None, stride=1, padding="valid":
        right_conv(x, kernel, bias, 1, padding)),
    Bug("Your output equals conv2d with stride_h and stride_w swapped.",
        "stride=(stride_h, stride_w): the first steps along H (rows), the second along W",
        lambda x, kernel, bias=None, stride=1, padding="valid":
        right_conv(x, kernel, bias, pair(stride)[::-1], padding)),
    Bug("Your output equals conv2d without the bias: the bias is never added.",
        "add bias[c] to every pixel of output channel c: out += bias (it broadcasts along the "
        "last axis)",
        _bias_missing),
    Bug("Your output adds bias[c] along the H axis (rows) instead of the channel axis "
        "(a channels-first habit).",
        "the output is channels-last (N, H_out, W_out, C_out): out += bias, not "
        "bias[:, None, None]",
        _bias_along(1)),
    Bug("Your output adds bias[c] along the W axis (columns) instead of the channel axis.",
        "the output is channels-last (N, H_out, W_out, C_out): out += bias, not bias[:, None]",
        _bias_along(2)),
    Bug("Your output equals conv2d on the first input channel only: the other input "
        "channels are not summed.",
        "sum over u, v and every input channel d: the kernel is (kh, kw, C_in, C_out)",
        lambda x, kernel, bias=None, stride=1, padding="valid":
        right_conv(x[..., :1], kernel[:, :, :1], bias, stride, padding)),
    Bug("Every image of your output is the result of the first image: the batch axis is "
        "lost.",
        "compute the windows of every image: sliding_window_view over axes (1, 2) of the "
        "whole x (N, H, W, C_in)",
        lambda x, kernel, bias=None, stride=1, padding="valid":
        np.broadcast_to(right_conv(x[:1], kernel, bias, stride, padding),
                        (x.shape[0], *right_conv(x[:1], kernel, bias, stride, padding)
                         .shape[1:]))),
    Bug("Your output is one row/column short: H_out is computed as (H - kh + 1) // stride, "
        "off by one.",
        "valid: H_out = (H - kh) // stride_h + 1 (use output_size)",
        _cropped(lambda size, k, s: (size - k + 1) // s)),
    Bug("Your output is one row/column short: H_out is computed as (H - kh) // stride, "
        "without the + 1.",
        "valid: H_out = (H - kh) // stride_h + 1 (use output_size)",
        _cropped(lambda size, k, s: (size - k) // s)),
)


def pool(kind: str, x: np.ndarray, pool_size: Any = 2, stride: Any = None) -> np.ndarray:
    """Valid max or average pooling in float64 ('sum' for the sum of each window)."""
    ph, pw = pair(pool_size)
    sh, sw = (ph, pw) if stride is None else pair(stride)
    windows = sliding_window_view(np.asarray(x, np.float64), (ph, pw),
                                  axis=(1, 2))[:, ::sh, ::sw]
    return getattr(windows, kind)(axis=(4, 5))


def _pool_bugs(kind: str) -> tuple[Bug, ...]:
    other = {"max": "mean", "mean": "max"}[kind]
    words = {"max": "maximum", "mean": "average"}
    return (
        Bug(f"Your output equals {words[other]} pooling: it takes the {words[other]} of each "
            f"window instead of the {words[kind]}.",
            f"use windows.{kind}(axis=...) over the two window axes",
            lambda x, pool_size=2, stride=None: pool(other, x, pool_size, stride)),
        Bug("Your output equals pooling with stride 1: the stride is ignored (stride=None "
            "means stride = pool_size, windows side by side).",
            "step the windows: [:, ::stride_h, ::stride_w], with (stride_h, stride_w) = "
            "pool_size when stride is None",
            lambda x, pool_size=2, stride=None: pool(kind, x, pool_size, 1)),
        Bug("Your output equals pooling with the window's ph and pw swapped.",
            "pool_size=(ph, pw): ph rows (H) by pw columns (W)",
            lambda x, pool_size=2, stride=None:
            pool(kind, x, pair(pool_size)[::-1],
                 None if stride is None else pair(stride)[::-1])),
        *((Bug("Your output equals the sum of each window, not its mean: the division by "
               "ph * pw is missing.",
               "use windows.mean(axis=...), or divide the sum by ph * pw",
               lambda x, pool_size=2, stride=None: pool("sum", x, pool_size, stride)),)
          if kind == "mean" else ()),
    )


MAX_POOL2D = _pool_bugs("max")
AVG_POOL2D = _pool_bugs("mean")


def _correlate(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    image, kernel = np.asarray(image, np.float64), np.asarray(kernel, np.float64)
    if kernel.shape[0] > image.shape[0] or kernel.shape[1] > image.shape[1]:
        raise ValueError("the kernel does not fit")
    return np.einsum("hwuv,uv->hw", sliding_window_view(image, kernel.shape), kernel)


CORRELATE2D = (
    Bug("Your correlate2d equals convolve2d: it flips the kernel. A cross-correlation lays the "
        "kernel on the image as it is.",
        "out[i, j] = sum(image[i:i+kh, j:j+kw] * kernel), no kernel[::-1, ::-1]",
        lambda image, kernel: _correlate(image, np.asarray(kernel)[::-1, ::-1])),
    Bug("Your correlate2d equals a correlation with the kernel transposed (kh and kw swapped).",
        "kernel[u, v] multiplies image[i + u, j + v]: u along rows, v along columns",
        lambda image, kernel: _correlate(image, np.asarray(kernel).T)),
)
CONVOLVE2D = (
    Bug("Your convolve2d equals correlate2d: the kernel is not flipped. A convolution flips "
        "the kernel in both axes.",
        "correlate with kernel[::-1, ::-1]",
        lambda image, kernel: _correlate(image, kernel)),
    Bug("Your convolve2d flips the kernel along the rows only: a convolution flips both axes.",
        "correlate with kernel[::-1, ::-1], not kernel[::-1]",
        lambda image, kernel: _correlate(image, np.asarray(kernel)[::-1])),
    Bug("Your convolve2d flips the kernel along the columns only: a convolution flips both "
        "axes.",
        "correlate with kernel[::-1, ::-1], not kernel[:, ::-1]",
        lambda image, kernel: _correlate(image, np.asarray(kernel)[:, ::-1])),
    Bug("Your convolve2d equals a correlation with the kernel transposed: a transpose is not "
        "a flip.",
        "correlate with kernel[::-1, ::-1] (a 180-degree rotation), not kernel.T",
        lambda image, kernel: _correlate(image, np.asarray(kernel).T)),
)

SOBEL_X = np.array([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])


def _gradients(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return _correlate(image, SOBEL_X), _correlate(image, SOBEL_X.T)


EDGE_MAGNITUDE = (
    Bug("Your edge_magnitude equals |gx| + |gy|: that is the L1 norm, not the length "
        "sqrt(gx**2 + gy**2).",
        "np.hypot(gx, gy) or np.sqrt(gx**2 + gy**2)",
        lambda image: np.add(*(np.abs(g) for g in _gradients(image)))),
    Bug("Your edge_magnitude equals gx**2 + gy**2: the square root is missing.",
        "np.hypot(gx, gy) or np.sqrt(gx**2 + gy**2)",
        lambda image: np.add(*(g**2 for g in _gradients(image)))),
)
SOBEL_GX = (
    Bug("Your gx is the vertical gradient: it equals the documented gy (the axes are "
        "swapped).",
        "gx = [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]] (changes from left to right), gy = gx.T",
        lambda: SOBEL_X.T),
    Bug("Your gx has the wrong sign: it is positive where the image gets darker to the right.",
        "gx = [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]: positive where brighter to the right",
        lambda: -SOBEL_X),
)


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


# output_size: (padding, formula of (size, kernel_size, stride), what the student reads)
OUTPUT_SIZE = (
    ("valid", lambda n, k, s: (n - k + 1) // s,
     "your valid output_size equals (size - kernel_size + 1) // stride: off by one when "
     "(size - kernel_size) is a multiple of stride; it is (size - kernel_size) // stride + 1"),
    ("valid", lambda n, k, s: (n - k) // s,
     "your valid output_size equals (size - kernel_size) // stride: the + 1 (the first "
     "window) is missing"),
    ("valid", lambda n, k, s: n - k + 1,
     "your valid output_size ignores the stride: it is (size - kernel_size) // stride + 1"),
    ("valid", lambda n, k, s: _ceil_div(n - k, s),
     "your valid output_size rounds (size - kernel_size) / stride up and forgets the + 1: "
     "it is (size - kernel_size) // stride + 1"),
    ("same", lambda n, k, s: n // s,
     "your same output_size rounds size / stride down: it is ceil(size / stride)"),
    ("same", lambda n, k, s: n,
     "your same output_size ignores the stride: it is ceil(size / stride)"),
    ("same", lambda n, k, s: (n - k) // s + 1,
     "your same output_size uses the valid formula: 'same' pads, so it is ceil(size / stride) "
     "whatever the kernel size"),
)
