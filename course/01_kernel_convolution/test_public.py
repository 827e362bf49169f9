"""Public checks of assignment 01: kernel convolution in NumPy (100 points with the hidden ones).

Every numeric check compares the student's values with a trusted reference computed on the
grader's side (references.py: SciPy, Keras layers, tf.nn.conv2d). Inputs come from the
grading seed.
"""

from __future__ import annotations

import ast
from typing import Any

import numpy as np
import pytest

from autograder.checks import CheckFailed, assert_close
from autograder.proxy import StudentError
from course import sibling
from course.helpers import array_tasks
from course.helpers.diagnosis import assert_close_or_diagnose

refs = sibling(__file__, "references")
bugs = sibling(__file__, "bugs")

FORBIDDEN_MODULES = ("tensorflow", "keras", "scipy", "torch")
# The vectorisation check compares CPU time (the kernel's count, read from outside the
# worker: load and a slowed worker do not change it) on many small images, where a Python loop
# over images costs 15-25x a vectorised reference and a loop over pixels about 100x, while
# im2col, einsum and per-kernel-offset solutions take 0.5-2x (measured on 2-core AMD EPYC).
SPEED_INPUT, SPEED_KERNEL = (16384, 6, 6, 1), (3, 3, 1, 4)
SPEED_RATIO_LIMIT = 8.0
SPEED_REPEATS = 3
SPEED_CPU_TIMEOUT = 60.0


# ---------------------------------------------------------------------------------------------
# One image: correlate2d, convolve2d, output_size
# ---------------------------------------------------------------------------------------------

@pytest.mark.points(5)
def test_correlate2d_matches_scipy(student, seed):
    """correlate2d equals scipy.signal.correlate2d(mode="valid") on random images."""
    cases = refs.random_2d_cases(refs.case_rng(seed, 1), refs.SHAPES_2D)
    refs.check_2d_cases(student, "correlate2d", cases, refs.HINT_CORRELATE)


@pytest.mark.requires("test_correlate2d_matches_scipy")
@pytest.mark.points(5)
def test_convolve2d_matches_scipy(student, seed):
    """convolve2d equals scipy.signal.convolve2d(mode="valid") (the kernel flipped)."""
    cases = refs.random_2d_cases(refs.case_rng(seed, 2), refs.SHAPES_2D)
    refs.check_2d_cases(student, "convolve2d", cases, refs.HINT_CONVOLVE)


@pytest.mark.requires("test_correlate2d_matches_scipy", "test_convolve2d_matches_scipy")
@pytest.mark.points(3)
def test_correlate2d_and_convolve2d_edge_cases(student, seed):
    """correlate2d and convolve2d handle 1x1 kernels, kernels as large as the image, thin images."""
    rng = refs.case_rng(seed, 3)
    cases = refs.random_2d_cases(rng, [((4, 6), (1, 1)), ((5, 4), (5, 4)), ((1, 8), (1, 3)),
                                  ((7, 1), (2, 1)), ((3, 3), (3, 1))])
    refs.check_2d_cases(student, "correlate2d", cases,
                   refs.HINT_CORRELATE + "; a kernel as large as the image gives a (1, 1) output")
    refs.check_2d_cases(student, "convolve2d", cases, refs.HINT_CONVOLVE)


@pytest.mark.points(6)
def test_output_size_matches_tensorflow(student):
    """output_size gives TensorFlow's output length for valid and same padding and any stride."""
    wrong = []
    total = 0
    answers: dict[tuple[int, int, int, str], Any] = {}
    for padding in ("valid", "same"):
        for size in (1, 2, 5, 7, 8, 28):
            for kernel_size in (1, 2, 3, 4, 5):
                for stride in (1, 2, 3, 4):
                    if padding == "valid" and kernel_size > size:
                        continue
                    total += 1
                    want = refs.ref_output_size(size, kernel_size, stride, padding)
                    got = student.output_size(size, kernel_size, stride=stride, padding=padding)
                    answers[size, kernel_size, stride, padding] = got
                    if isinstance(got, bool) or not isinstance(got, int | np.integer) \
                            or got != want:
                        wrong.append(f"output_size(size={size}, kernel_size={kernel_size}, "
                                     f"stride={stride}, padding={padding!r}): expected {want}, "
                                     f"got {got!r}")
    if wrong:
        shown = "; ".join(wrong[:3]) + (f"; and {len(wrong) - 3} more" if len(wrong) > 3 else "")
        raise CheckFailed(f"{len(wrong)} of {total} cases are wrong: {shown}",
                          hint="valid: floor((size - kernel_size) / stride) + 1; "
                               "same: ceil(size / stride), whatever the kernel size; "
                               "return a Python int",
                          diagnosis=_output_size_diagnosis(answers))


def _output_size_diagnosis(answers: dict[tuple[int, int, int, str], Any]) -> str:
    """The catalogued wrong formulas that explain every answer of a padding the student got
    wrong, as one sentence ("" when none does)."""
    found = []
    for padding in ("valid", "same"):
        mine = {key: got for key, got in answers.items() if key[3] == padding}
        if all(got == refs.ref_output_size(*key) for key, got in mine.items()):
            continue
        found += [says.capitalize() + "." for bug_padding, formula, says in bugs.OUTPUT_SIZE
                  if bug_padding == padding
                  and all(not isinstance(got, bool) and got == formula(*key[:3])
                          for key, got in mine.items())][:1]
    return " ".join(found)


# ---------------------------------------------------------------------------------------------
# conv2d
# ---------------------------------------------------------------------------------------------

@pytest.mark.requires("test_output_size_matches_tensorflow")
@pytest.mark.points(6)
def test_conv2d_one_channel_valid(student, seed):
    """conv2d with one input channel, valid padding and stride 1 equals Keras' Conv2D."""
    rng = refs.case_rng(seed, 10)
    cases = [refs.conv_case(rng, 1, 7, 7, 1, 1, 3, 3), refs.conv_case(rng, 1, 8, 6, 1, 2, 3, 3),
             refs.conv_case(rng, 2, 6, 6, 1, 1, 2, 2), refs.conv_case(rng, 1, 9, 7, 1, 3, 5, 5)]
    refs.check_conv_cases(student, cases, refs.HINT_CONV)


@pytest.mark.requires("test_conv2d_one_channel_valid")
@pytest.mark.points(8)
def test_conv2d_channels_and_batch(student, seed):
    """conv2d sums over every input channel, for every output channel and every image of a batch."""
    rng = refs.case_rng(seed, 11)
    cases = [refs.conv_case(rng, 3, 8, 6, 3, 4, 3, 3), refs.conv_case(rng, 5, 7, 7, 2, 5, 2, 2),
             refs.conv_case(rng, 2, 7, 10, 3, 2, 2, 4), refs.conv_case(rng, 4, 9, 6, 4, 3, 5, 3),
             refs.conv_case(rng, 2, 6, 5, 2, 3, 1, 3)]
    refs.check_conv_cases(student, cases, refs.HINT_CONV + "; non-square kernels are (kh, kw)")


@pytest.mark.requires("test_conv2d_one_channel_valid")
@pytest.mark.points(7)
def test_conv2d_strides(student, seed):
    """conv2d with strides (an int or a pair, even larger than the kernel) equals Keras' Conv2D."""
    rng = refs.case_rng(seed, 13)
    cases = [refs.conv_case(rng, 2, 9, 9, 2, 3, 3, 3, stride=2),
             refs.conv_case(rng, 2, 10, 11, 1, 2, 3, 2, stride=(2, 3)),
             refs.conv_case(rng, 1, 8, 9, 3, 2, 2, 3, stride=(1, 2)),
             refs.conv_case(rng, 3, 11, 10, 2, 2, 2, 2, stride=3),
             refs.conv_case(rng, 1, 7, 9, 1, 1, 3, 3, stride=(3, 1))]
    refs.check_conv_cases(student, cases,
                     "with stride s the windows start at rows 0, s, 2s, ...: "
                     "H_out = (H - kh) // stride_h + 1 for valid padding")


@pytest.mark.requires("test_conv2d_strides")
@pytest.mark.points(9)
def test_conv2d_same_padding(student, seed):
    """conv2d with padding="same" pads exactly like TensorFlow (the extra zero at the end)."""
    rng = refs.case_rng(seed, 12)
    cases = [refs.conv_case(rng, 2, 7, 7, 2, 3, 3, 3, padding="same"),
             refs.conv_case(rng, 2, 6, 8, 1, 2, 2, 2, padding="same"),
             refs.conv_case(rng, 1, 7, 6, 3, 2, 4, 3, padding="same"),
             refs.conv_case(rng, 2, 8, 8, 2, 2, 3, 3, stride=2, padding="same"),
             refs.conv_case(rng, 1, 9, 7, 2, 3, 2, 5, stride=(2, 3), padding="same"),
             refs.conv_case(rng, 2, 5, 6, 1, 2, 4, 4, stride=3, padding="same")]
    refs.check_conv_cases(student, cases,
                     "same: H_out = ceil(H / stride_h); pad_total = max((H_out - 1) * stride_h "
                     "+ kh - H, 0), pad_total // 2 zeros before and the rest after (bottom/right)")


@pytest.mark.requires("test_conv2d_one_channel_valid")
@pytest.mark.points(5)
def test_conv2d_bias(student, seed):
    """conv2d adds bias[c] to every pixel of output channel c."""
    rng = refs.case_rng(seed, 14)
    # the first case has H_out == C_out: a bias added along H gives values, not an error
    cases = [refs.conv_case(rng, 2, 5, 7, 2, 3, 3, 3, bias=True),
             refs.conv_case(rng, 3, 5, 5, 1, 3, 3, 3, bias=True),
             refs.conv_case(rng, 1, 8, 6, 3, 4, 2, 3, stride=2, padding="same", bias=True),
             refs.conv_case(rng, 2, 4, 4, 2, 1, 1, 1, bias=True)]
    refs.check_conv_cases(student, cases,
                     "bias has shape (C_out,): it broadcasts along the last (channel) axis")


@pytest.mark.requires("test_conv2d_strides", "test_conv2d_same_padding")
@pytest.mark.points(4)
def test_conv2d_edge_cases(student, seed):
    """conv2d handles 1x1 kernels, kernels as large as the input, strides larger than the kernel."""
    rng = refs.case_rng(seed, 15)
    cases = [refs.conv_case(rng, 2, 5, 6, 3, 2, 1, 1),
             refs.conv_case(rng, 2, 5, 4, 2, 3, 5, 4),
             refs.conv_case(rng, 1, 9, 9, 1, 2, 2, 2, stride=4),
             refs.conv_case(rng, 1, 3, 3, 1, 2, 5, 5, padding="same"),
             refs.conv_case(rng, 2, 8, 7, 2, 2, 1, 1, stride=3, padding="same")]
    refs.check_conv_cases(student, cases,
                     "a kernel as large as the input gives a 1x1 output; with same padding "
                     "the kernel may be larger than the input")


# ---------------------------------------------------------------------------------------------
# Pooling and ReLU
# ---------------------------------------------------------------------------------------------

def pool_cases(rng: np.random.Generator) -> list[tuple]:
    def x(*shape: int) -> np.ndarray:
        return rng.standard_normal(shape).astype(np.float32)

    return [(x(2, 6, 6, 3), 2, None), (x(1, 7, 9, 2), 3, None), (x(2, 7, 7, 1), 3, 2),
            (x(1, 6, 9, 2), (2, 3), None), (x(2, 8, 7, 2), 2, (1, 2)), (x(3, 5, 5, 4), 2, 1)]


@pytest.mark.points(5)
def test_max_pool2d_matches_keras(student, seed):
    """max_pool2d equals keras.layers.MaxPooling2D (default, overlapping and non-square windows)."""
    refs.check_pool_cases(student, "max", pool_cases(refs.case_rng(seed, 20)),
                     "the maximum of each (ph, pw) window, channel by channel; stride=None means "
                     "stride = pool_size; leftover rows and columns are dropped")


@pytest.mark.points(5)
def test_avg_pool2d_matches_keras(student, seed):
    """avg_pool2d equals keras.layers.AveragePooling2D (default, overlapping and non-square)."""
    refs.check_pool_cases(student, "avg", pool_cases(refs.case_rng(seed, 21)),
                     "the mean of each (ph, pw) window, channel by channel; stride=None means "
                     "stride = pool_size")


@pytest.mark.points(2)
def test_relu(student, seed):
    """relu keeps positive values and replaces negative ones by 0, for any shape."""
    rng = refs.case_rng(seed, 22)
    for shape in [(2, 5, 5, 3), (7,), (3, 4)]:
        x = rng.standard_normal(shape).astype(np.float32)
        x.flat[0] = 0.0
        assert_close(student.relu(x), np.maximum(x, 0), atol=0, what=f"relu(x {x.shape})",
                     hint="max(x, 0) elementwise, the same shape as x")


# ---------------------------------------------------------------------------------------------
# Classic kernels
# ---------------------------------------------------------------------------------------------

@pytest.mark.points(3)
def test_classic_kernel_values(student):
    """box_blur, sharpen and sobel return the documented kernels."""
    for size in (1, 3, 4):
        assert_close(student.box_blur(size), np.full((size, size), 1.0 / size**2), atol=1e-12,
                     what=f"box_blur({size})", hint="a (size, size) array filled with 1 / size**2")
    assert_close(student.sharpen(), [[0, -1, 0], [-1, 5, -1], [0, -1, 0]], atol=1e-12,
                 what="sharpen()", hint="[[0, -1, 0], [-1, 5, -1], [0, -1, 0]]")
    kernels = student.sobel()
    if not isinstance(kernels, tuple | list) or len(kernels) != 2:
        raise CheckFailed(f"sobel(): expected a tuple (gx, gy), got {type(kernels).__name__}",
                          hint="return gx, gy")
    assert_close_or_diagnose(kernels[0], refs.SOBEL_X, bugs.SOBEL_GX, (), {}, atol=1e-12,
                             rtol=0, what="sobel()[0] (gx)",
                             hint="gx = [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]: brighter to the "
                                  "right > 0")
    assert_close(kernels[1], refs.SOBEL_X.T, atol=1e-12, what="sobel()[1] (gy)",
                 hint="gy is gx transposed: brighter downwards > 0")


@pytest.mark.requires("test_correlate2d_matches_scipy", "test_classic_kernel_values")
@pytest.mark.points(4)
def test_classic_kernel_effects(student, seed):
    """Blur and sharpen keep flat images flat; Sobel and edge_magnitude find edges."""
    flat = np.full((6, 7), 0.5)
    for name, kernel in [("box_blur(3)", student.box_blur(3)), ("sharpen()", student.sharpen())]:
        assert_close(student.correlate2d(flat, kernel), np.full((4, 5), 0.5), atol=1e-9,
                     what=f"correlate2d(flat image (6, 7) of 0.5, {name})",
                     hint="the kernel's values must sum to 1")
    step = np.zeros((5, 6))
    step[:, 3:] = 1.0  # dark left half, bright right half: a vertical edge
    gx, gy = student.sobel()
    step_gx = refs.scipy_signal().correlate2d(step, refs.SOBEL_X, mode="valid")
    for name, kernel, want in [("gx", gx, step_gx),
                               ("gy", gy, np.zeros((3, 4)))]:
        assert_close(student.correlate2d(step, kernel), want, atol=1e-9,
                     what=f"correlate2d(vertical step edge (5, 6), sobel {name})",
                     hint="gx responds to left-to-right changes (positive when brighter to the "
                          "right), gy to top-to-bottom changes")
    rng = refs.case_rng(seed, 30)
    for image in [step, rng.standard_normal((9, 8)), rng.random((6, 12)).astype(np.float32)]:
        image64 = image.astype(np.float64)
        want = np.hypot(refs.scipy_signal().correlate2d(image64, refs.SOBEL_X, mode="valid"),
                        refs.scipy_signal().correlate2d(image64, refs.SOBEL_X.T, mode="valid"))
        assert_close_or_diagnose(student.edge_magnitude(image), want, bugs.EDGE_MAGNITUDE,
                                 (image64,), {}, atol=1e-5, rtol=1e-5,
                                 what=f"edge_magnitude(image {image.shape} {image.dtype})",
                                 hint="sqrt(gx**2 + gy**2) of the two valid Sobel correlations")


# ---------------------------------------------------------------------------------------------
# Contract: dtypes, inputs untouched, ValueError
# ---------------------------------------------------------------------------------------------

def _dtype_of(result: Any) -> Any:
    """A result's dtype; a tuple's (sobel) when all its items agree, else their names."""
    if isinstance(result, tuple | list):
        dtypes = {getattr(item, "dtype", type(item).__name__) for item in result}
        return dtypes.pop() if len(dtypes) == 1 else "mixed dtypes"
    return getattr(result, "dtype", type(result).__name__)


@pytest.mark.points(3)
def test_float32_stays_float32(student, seed, score):
    """Results have the documented dtypes: float32 stays float32, integers give float64."""
    rng = refs.case_rng(seed, 40)

    def arr(*shape: int, dtype: Any = np.float32) -> np.ndarray:
        return rng.standard_normal(shape).astype(dtype)

    calls = [
        ("correlate2d(float32 (6, 6), float32 (3, 3))", "correlate2d", (arr(6, 6), arr(3, 3)),
         {}, np.float32),
        ("convolve2d(float32 (6, 6), float32 (3, 3))", "convolve2d", (arr(6, 6), arr(3, 3)),
         {}, np.float32),
        ("conv2d(float32 (2, 6, 6, 2), float32 (3, 3, 2, 3), float32 bias, padding='same')",
         "conv2d", (arr(2, 6, 6, 2), arr(3, 3, 2, 3), arr(3)), {"padding": "same"}, np.float32),
        ("conv2d(float64 (2, 6, 6, 2), float64 (3, 3, 2, 3))", "conv2d",
         (arr(2, 6, 6, 2, dtype=np.float64), arr(3, 3, 2, 3, dtype=np.float64)), {},
         np.float64),
        ("max_pool2d(float32 (2, 6, 6, 3))", "max_pool2d", (arr(2, 6, 6, 3),), {}, np.float32),
        ("avg_pool2d(float32 (2, 6, 6, 3))", "avg_pool2d", (arr(2, 6, 6, 3),), {}, np.float32),
        ("relu(float32 (4, 5))", "relu", (arr(4, 5),), {}, np.float32),
        ("edge_magnitude(float32 (6, 7))", "edge_magnitude", (arr(6, 7),), {}, np.float32),
        ("edge_magnitude(uint8 (6, 7))", "edge_magnitude",
         (rng.integers(0, 256, (6, 7), dtype=np.uint8),), {}, np.float64),
        ("correlate2d(int64 (6, 6), int64 (3, 3))", "correlate2d",
         (rng.integers(-5, 6, (6, 6)), rng.integers(-2, 3, (3, 3))), {}, np.float64),
        ("box_blur(3)", "box_blur", (3,), {}, np.float64),
        ("sharpen()", "sharpen", (), {}, np.float64),
        ("sobel()", "sobel", (), {}, np.float64),
    ]
    wrong = []
    for what, name, args, kwargs, dtype in calls:
        got = getattr(student, name)(*args, **kwargs)
        got_dtype = _dtype_of(got)
        try:  # a dtype counts only with the right values: a stub of zeros earns nothing
            refs.check_value(got, name, args, kwargs, what=what, hint="")
        except CheckFailed:
            wrong.append(f"{what} gave wrong values")
            continue
        if got_dtype != np.dtype(dtype):
            wrong.append(f"{what} returned {got_dtype}, expected {np.dtype(dtype)}")
    if len(wrong) == len(calls):
        raise CheckFailed("; ".join(wrong), hint="create arrays with dtype=x.dtype "
                          "(np.zeros defaults to float64) and do not call .astype on results")
    if wrong:
        score.set(1 - len(wrong) / len(calls),
                  f"{len(wrong)} of {len(calls)} calls changed the dtype: " + "; ".join(wrong)
                  + ". Hint: create arrays with dtype=x.dtype (np.zeros defaults to float64)")


@pytest.mark.points(3)
def test_inputs_not_modified(student, seed):
    """No function writes into its inputs; every call returns new arrays, sharing no memory."""
    rng = refs.case_rng(seed, 41)

    def arr(*shape: int) -> np.ndarray:
        return rng.standard_normal(shape).astype(np.float32)

    calls = [
        ("correlate2d", (arr(6, 7), arr(3, 2)), {}),
        ("convolve2d", (arr(6, 7), arr(3, 2)), {}),
        ("conv2d", (arr(2, 6, 6, 2), arr(3, 3, 2, 3), arr(3)), {"padding": "same"}),
        ("conv2d", (arr(2, 7, 7, 2), arr(2, 2, 2, 3), arr(3)), {"stride": 2}),
        ("max_pool2d", (arr(2, 6, 6, 3),), {}),
        ("avg_pool2d", (arr(2, 6, 6, 3),), {"pool_size": 3, "stride": 1}),
        ("relu", (arr(3, 4, 5),), {}),
        ("edge_magnitude", (arr(7, 8),), {}),
        ("box_blur", (3,), {}),
        ("sharpen", (), {}),
        ("sobel", (), {}),
    ]
    for name, args, kwargs in calls:
        # which arrays share memory can only be seen in the worker: like the inputs after the
        # call, that report counts only together with correct values (checked first)
        got, after, shared = student.run(array_tasks.call_and_report_sharing, name, *args,
                                         **kwargs)
        shapes = ", ".join(f"{a.shape}" for a in args if isinstance(a, np.ndarray))
        what = f"{name}(arrays {shapes}, {kwargs})" if shapes else \
            f"{name}({', '.join(map(repr, args))})"
        # the result must be right too: a stub that touches nothing earns nothing
        refs.check_value(got, name, args, kwargs, what=what,
                         hint="first make the function compute the right values")
        originals = {f"arg{i}": value for i, value in enumerate(args)} | kwargs
        changed = [key for key, value in originals.items() if isinstance(value, np.ndarray)
                   and not (isinstance(after.get(key), np.ndarray)
                            and np.array_equal(after[key], value))]
        if changed:
            raise CheckFailed(
                f"{what} modified its input(s) {', '.join(changed)} (arg0 is the first "
                "argument)",
                hint="work on new arrays: no out=x, no x[...] = ..., no += on an input; "
                     "np.pad and np.maximum(x, 0) return new arrays")
        if not (isinstance(shared, list) and all(isinstance(pair, str) for pair in shared)):
            raise CheckFailed(f"{what}: the report on shared memory was unreadable")
        if shared:
            again = any("second call" in pair for pair in shared)
            raise CheckFailed(
                f"{what} returned arrays that share memory: {'; '.join(shared[:4])}"
                + (" (every call returns the same array: a caller that changes it changes "
                   "all of them)" if again else ""),
                hint="return new arrays: .copy() a view (gx.T is a view of gx) or a "
                     "module-level constant before returning it")


def _invalid_calls() -> list[tuple[str, str, tuple, dict]]:
    image, kernel = np.ones((4, 4)), np.ones((3, 3))
    x, k = np.ones((2, 5, 5, 2), np.float32), np.ones((3, 3, 2, 4), np.float32)
    return [
        ("correlate2d(image (2, 4, 4), kernel (3, 3)): image of rank 3", "correlate2d",
         (np.ones((2, 4, 4)), kernel), {}),
        ("correlate2d(image (4, 4), kernel (3,)): kernel of rank 1", "correlate2d",
         (image, np.ones(3)), {}),
        ("correlate2d(image (4, 4), kernel (5, 2)): kernel taller than the image",
         "correlate2d", (image, np.ones((5, 2))), {}),
        ("convolve2d(image (3, 3), kernel (2, 4)): kernel wider than the image", "convolve2d",
         (np.ones((3, 3)), np.ones((2, 4))), {}),
        ("output_size(5, 3, stride=0)", "output_size", (5, 3), {"stride": 0}),
        ("output_size(5, 3, padding='full')", "output_size", (5, 3), {"padding": "full"}),
        ("output_size(3, 5, padding='valid'): kernel larger than the input", "output_size",
         (3, 5), {"padding": "valid"}),
        ("conv2d(x (5, 5, 2), kernel (3, 3, 2, 4)): x of rank 3", "conv2d",
         (np.ones((5, 5, 2)), k), {}),
        ("conv2d(x (2, 5, 5, 2), kernel (3, 3, 2)): kernel of rank 3", "conv2d",
         (x, np.ones((3, 3, 2))), {}),
        ("conv2d(x (2, 5, 5, 2), kernel (3, 3, 3, 4)): C_in 2 vs 3", "conv2d",
         (x, np.ones((3, 3, 3, 4))), {}),
        ("conv2d(x (2, 5, 5, 2), kernel (3, 3, 2, 4), bias (3,)): bias of the wrong length",
         "conv2d", (x, k), {"bias": np.ones(3)}),
        ("conv2d(..., padding='full')", "conv2d", (x, k), {"padding": "full"}),
        ("conv2d(..., stride=0)", "conv2d", (x, k), {"stride": 0}),
        ("conv2d(..., stride=(1, -1))", "conv2d", (x, k), {"stride": (1, -1)}),
        ("conv2d(x (2, 5, 5, 2), kernel (6, 3, 2, 4), padding='valid'): kernel taller than x",
         "conv2d", (x, np.ones((6, 3, 2, 4))), {}),
        ("max_pool2d(x (5, 5, 2)): x of rank 3", "max_pool2d", (np.ones((5, 5, 2)),), {}),
        ("max_pool2d(x (2, 5, 5, 2), pool_size=6): window larger than x", "max_pool2d", (x,),
         {"pool_size": 6}),
        ("avg_pool2d(x (2, 5, 5, 2), pool_size=(2, 6)): window wider than x", "avg_pool2d",
         (x,), {"pool_size": (2, 6)}),
        ("avg_pool2d(..., stride=0)", "avg_pool2d", (x,), {"stride": 0}),
        ("box_blur(0)", "box_blur", (0,), {}),
        ("edge_magnitude(image (2, 5)): smaller than the 3x3 Sobel kernel", "edge_magnitude",
         (np.ones((2, 5)),), {}),
    ]


@pytest.mark.points(3)
def test_invalid_arguments_raise_value_error(student, seed):
    """Bad arguments raise ValueError (and good ones still work)."""
    rng = refs.case_rng(seed, 42)
    x = rng.standard_normal((2, 5, 5, 2)).astype(np.float32)
    k = rng.standard_normal((3, 3, 2, 4)).astype(np.float32)
    image, kernel = rng.standard_normal((4, 4)), rng.standard_normal((3, 3))
    # the argument checks only count once the functions themselves compute the right values
    for name, args, kwargs in [
            ("correlate2d", (image, kernel), {}), ("convolve2d", (image, kernel), {}),
            ("conv2d", (x, k), {"bias": np.ones(4, np.float32), "stride": (1, 2),
                                "padding": "same"}),
            ("max_pool2d", (x,), {"pool_size": 5}), ("avg_pool2d", (x,), {"pool_size": (2, 5)}),
            ("edge_magnitude", (rng.standard_normal((3, 3)),), {})]:
        refs.check_value(getattr(student, name)(*args, **kwargs), name, args, kwargs,
                         what=f"{name} with good arguments",
                         hint="make the function compute the right values first")
    wrong = []
    for what, name, args, kwargs in _invalid_calls():
        try:
            value = getattr(student, name)(*args, **kwargs)
        except StudentError as error:
            if not error.isinstance_of("ValueError"):
                wrong.append(f"{what} raised {error.exc_type}, expected ValueError")
        else:
            got = getattr(value, "shape", value)
            wrong.append(f"{what} returned {got!r} instead of raising ValueError")
    if wrong:
        raise CheckFailed("; ".join(wrong),
                          hint="keep the argument checks of the template at the top of each "
                               "function (they raise ValueError)")


# ---------------------------------------------------------------------------------------------
# NumPy only, vectorised
# ---------------------------------------------------------------------------------------------

def forbidden_imports(source: str) -> list[str]:
    """'scipy (line 3)' for every import of a forbidden library, however it is written."""
    found = []
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            if called in ("__import__", "import_module") and isinstance(node.args[0].value, str):
                names = [node.args[0].value]
        for name in names:
            if name.split(".")[0] in FORBIDDEN_MODULES:
                found.append(f"{name} (line {node.lineno})")
    return found


@pytest.mark.requires("test_conv2d_bias")
@pytest.mark.points(2)
def test_numpy_only(student, seed):
    """A working conv2d, and convolution.py imports no TensorFlow, Keras, SciPy or PyTorch."""
    case = refs.conv_case(refs.case_rng(seed, 50), 2, 6, 6, 2, 3, 3, 3, bias=True)
    refs.check_conv_cases(student, [case], refs.HINT_CONV)
    try:
        source = student.path.read_text(encoding="utf-8")
        found = forbidden_imports(source)
    except (OSError, SyntaxError, ValueError) as error:
        raise CheckFailed(f"{student.path.name} could not be read as Python source: {error}",
                          hint="keep convolution.py a plain UTF-8 Python file") from None
    if found:
        raise CheckFailed(f"{student.path.name} imports {', '.join(found)}: this assignment is "
                          "NumPy only (those libraries are what the grader compares you with)",
                          hint="remove those imports; np.lib.stride_tricks.sliding_window_view, "
                               "np.pad and np.tensordot are all you need")


@pytest.mark.requires("test_conv2d_one_channel_valid")
@pytest.mark.points(4)
@pytest.mark.timeout(120)
def test_conv2d_is_vectorised(student, seed):
    """conv2d is vectorised: at most 8x the CPU time of a NumPy reference on 16,384 images."""
    rng = refs.case_rng(seed, 51)
    x = rng.random(SPEED_INPUT, dtype=np.float32)
    kernel = rng.standard_normal(SPEED_KERNEL).astype(np.float32)
    want, reference_cpu = refs.reference_cpu_seconds(x, kernel, SPEED_REPEATS)
    limit = SPEED_RATIO_LIMIT * reference_cpu
    student_cpu = float("inf")
    for _ in range(SPEED_REPEATS):
        # a loop over pixels may take seconds here: it fails below, and is not a hang
        got = student.conv2d(x, kernel, cpu_timeout=SPEED_CPU_TIMEOUT)
        student_cpu = min(student_cpu, student.last_call_cpu_seconds)
        if student_cpu > 3 * limit:  # a Python loop: one call says enough
            break
    what = (f"conv2d(x {SPEED_INPUT} float32, kernel {SPEED_KERNEL}, padding='valid')")
    assert_close(got, want, atol=refs.ATOL, rtol=refs.RTOL, what=what, hint=refs.HINT_CONV)
    if student_cpu > limit:
        raise CheckFailed(
            f"{what} used {student_cpu * 1e3:.0f} ms of CPU time, "
            f"{student_cpu / reference_cpu:.0f}x the {reference_cpu * 1e3:.0f} ms of a NumPy "
            f"reference; the limit is {SPEED_RATIO_LIMIT:g}x",
            hint="no Python loop over images or pixels: gather all windows with "
                 "sliding_window_view (im2col) and do one matrix product (np.tensordot or @)")
