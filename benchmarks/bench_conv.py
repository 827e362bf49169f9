"""Forward convolution time of the 01 solution's conv2d against tf.nn.conv2d, in the same run.

    .venv/bin/python benchmarks/bench_conv.py [--repeats 30]

Cases: a Fashion-MNIST batch (64, 28, 28, 1) with 32 3x3 filters, and a CIFAR-like hidden
layer (32, 32, 32, 16) with 32 3x3x16 filters, each with valid and same padding, float32.
Every case runs once to warm up (TensorFlow picks its kernels, NumPy allocates), then
`repeats` times, NumPy and TensorFlow interleaved so both see the same machine load. The
table shows the medians and the ratio NumPy / TensorFlow (< 1: the NumPy solution is faster);
the target is <= 1. TensorFlow's result is the reference for the max abs error column.

On a machine busy with other work, OpenBLAS' threads (NumPy's matrix product) suffer more
than TensorFlow's: compare with OPENBLAS_NUM_THREADS=1 before concluding.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parents[1]
SOLUTION = ROOT / "solutions" / "01_kernel_convolution" / "convolution.py"
CASES = (
    ((64, 28, 28, 1), (3, 3, 1, 32), "valid"),
    ((64, 28, 28, 1), (3, 3, 1, 32), "same"),
    ((32, 32, 32, 16), (3, 3, 16, 32), "valid"),
    ((32, 32, 32, 16), (3, 3, 16, 32), "same"),
)


def load_solution() -> ModuleType:
    spec = importlib.util.spec_from_file_location("convolution", SOLUTION)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def interleaved_medians(functions: list[Callable[[], object]], repeats: int) -> list[float]:
    """Median wall time of each function, calling them in turn `repeats` times after a warm-up."""
    for function in functions:
        function()
    times: list[list[float]] = [[] for _ in functions]
    for _ in range(repeats):
        for function, bucket in zip(functions, times, strict=True):
            start = time.perf_counter()
            function()
            bucket.append(time.perf_counter() - start)
    return [statistics.median(bucket) for bucket in times]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()

    import tensorflow as tf

    convolution = load_solution()
    rng = np.random.default_rng(0)
    blas_threads = os.environ.get("OPENBLAS_NUM_THREADS") or "default"
    print(f"conv2d of {SOLUTION.relative_to(ROOT)} vs tf.nn.conv2d (TensorFlow {tf.__version__},"
          f" NumPy {np.__version__}, {os.cpu_count()} CPUs, OPENBLAS_NUM_THREADS={blas_threads})"
          f", median of {args.repeats}")
    print(f"{'x':>18} {'kernel':>15} {'padding':>7} {'numpy ms':>9} {'tf ms':>7} {'ratio':>6}"
          f" {'max abs err':>11}")
    for x_shape, kernel_shape, padding in CASES:
        x = rng.standard_normal(x_shape).astype(np.float32)
        kernel = rng.standard_normal(kernel_shape).astype(np.float32)

        def ours(x=x, kernel=kernel, padding=padding):
            return convolution.conv2d(x, kernel, padding=padding)

        def reference(x=x, kernel=kernel, padding=padding):
            return tf.nn.conv2d(x, kernel, 1, padding.upper()).numpy()

        error = float(np.abs(ours() - reference()).max())
        numpy_s, tf_s = interleaved_medians([ours, reference], args.repeats)
        print(f"{x_shape!s:>18} {kernel_shape!s:>15} {padding:>7} {numpy_s * 1e3:9.2f} "
              f"{tf_s * 1e3:7.2f} {numpy_s / tf_s:6.2f} {error:11.1e}")


if __name__ == "__main__":
    main()
