"""Hidden checks of assignment 01 (8 points): graded by the instructor, never shipped to students.

More random cases with their own seeds. Every check in a test_hidden.py is hidden: when it
fails the student sees its title and hint, never its inputs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from course import sibling

refs = sibling(__file__, "references")


def random_conv_cases(rng: np.random.Generator, count: int) -> list[dict[str, Any]]:
    cases = []
    while len(cases) < count:
        n, h, w = (int(v) for v in rng.integers((1, 1, 1), (5, 13, 13)))
        c_in, c_out, kh, kw = (int(v) for v in rng.integers(1, (5, 6, 6, 6)))
        padding = ("valid", "same")[int(rng.integers(2))]
        if padding == "valid" and (kh > h or kw > w):
            continue
        sh, sw = (int(v) for v in rng.integers(1, 5, size=2))
        stride = sh if rng.random() < 0.5 else (sh, sw)
        cases.append(refs.conv_case(rng, n, h, w, c_in, c_out, kh, kw, stride=stride,
                               padding=padding, bias=bool(rng.random() < 0.5)))
    return cases


@pytest.mark.requires("test_conv2d_channels_and_batch", "test_conv2d_strides",
                      "test_conv2d_same_padding", "test_conv2d_bias")
@pytest.mark.points(4)
def test_hidden_conv2d_random(student, seed):
    """conv2d on random shapes, strides, paddings and channel counts (hidden cases)."""
    refs.check_conv_cases(student, random_conv_cases(refs.case_rng(seed, 1001), 14),
                     "check conv2d with padding 'same' and 'valid', int and pair strides, "
                     "non-square kernels, several channels and images")


@pytest.mark.requires("test_max_pool2d_matches_keras", "test_avg_pool2d_matches_keras")
@pytest.mark.points(2)
def test_hidden_pooling_random(student, seed):
    """max_pool2d and avg_pool2d on random shapes, windows and strides (hidden cases)."""
    rng = refs.case_rng(seed, 1002)
    cases = []
    while len(cases) < 8:
        n, h, w, c = (int(v) for v in rng.integers(1, (4, 12, 12, 4)))
        ph, pw, sh, sw = (int(v) for v in rng.integers(1, 5, size=4))
        square = bool(rng.random() < 0.5)
        if ph > h or (ph if square else pw) > w:
            continue
        pool = ph if square else (ph, pw)
        stride = (None, sh, (sh, sw))[int(rng.integers(3))]
        cases.append((rng.standard_normal((n, h, w, c)).astype(np.float32), pool, stride))
    hint = "check pooling with non-square windows, strides different from the window, odd sizes"
    refs.check_pool_cases(student, "max", cases, hint)
    refs.check_pool_cases(student, "avg", cases, hint)


@pytest.mark.requires("test_correlate2d_matches_scipy", "test_convolve2d_matches_scipy")
@pytest.mark.points(2)
def test_hidden_correlate_convolve_random(student, seed):
    """correlate2d and convolve2d on random shapes (hidden cases)."""
    rng = refs.case_rng(seed, 1003)
    shapes = []
    while len(shapes) < 8:
        h, w, kh, kw = (int(v) for v in rng.integers(1, (15, 15, 7, 7)))
        if kh <= h and kw <= w:
            shapes.append(((h, w), (kh, kw)))
    cases = refs.random_2d_cases(rng, shapes)
    refs.check_2d_cases(student, "correlate2d", cases, refs.HINT_CORRELATE)
    refs.check_2d_cases(student, "convolve2d", cases, refs.HINT_CONVOLVE)
