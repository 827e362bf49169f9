"""Benchmark of the grader: what isolating student code in a worker process costs.

Three figures, each next to a reference measured in the same run on the same machine:

1. small calls: `student.add(np.ones(10), np.ones(10))` through the worker, against the same
   function called in-process (target: 1,000 calls in under a second);
2. transfer: a 60,000 x 784 float32 array (Fashion-MNIST's training set, 188 MB) sent to the
   worker, received from it, and both (`identity(x)`), against pickling it in-process;
3. end to end: `python -m autograder grade 99_fake` on the fake assignment of the self-tests,
   against starting Python with the grader's imports.

Run: `python benchmarks/bench_grader.py [--calls N] [--repeat N] [--strict]`.
"""

from __future__ import annotations

import argparse
import pickle
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from autograder import sandbox  # noqa: E402
from autograder.proxy import StudentModule, Worker  # noqa: E402
from autograder.registry import WorkerPolicy  # noqa: E402

TARGET_SECONDS_PER_1000_CALLS = 1.0
FAKE = ROOT / "tests" / "fixtures" / "grader"
SHAPE = (60_000, 784)

BENCH_MODULE = '''
import numpy as np

_CACHE = {}


def add(a, b):
    return a + b


def identity(x):
    return x


def shape_of(x):
    return x.shape


def cached_array(shape):
    if shape not in _CACHE:
        _CACHE[shape] = np.ones(shape, dtype=np.float32)
    return _CACHE[shape]
'''


def add(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return a + b


def best_of(repeat: int, run: Callable[[], object]) -> float:
    """The fastest of `repeat` runs, in seconds (the least disturbed by other processes)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def row(label: str, value: str, reference: str, ratio: str) -> None:
    print(f"  {label:<36} {value:>16} {reference:>22} {ratio:>10}")


def bench_calls(student: StudentModule, calls: int, repeat: int) -> float:
    a, b = np.ones(10), np.ones(10)

    def through_worker() -> None:
        for _ in range(calls):
            student.add(a, b)

    def in_process() -> None:
        for _ in range(calls):
            add(a, b)

    worker = best_of(repeat, through_worker)
    local = best_of(repeat, in_process)
    per_1000 = worker / calls * 1000
    print(f"Small calls: add(np.ones(10), np.ones(10)), {calls} calls, best of {repeat}")
    row("", "worker", "in-process", "ratio")
    row("calls per second", f"{calls / worker:,.0f}", f"{calls / local:,.0f}",
        f"{worker / local:,.0f}x")
    row("microseconds per call", f"{worker / calls * 1e6:,.1f}", f"{local / calls * 1e6:,.2f}",
        "")
    row("seconds per 1,000 calls", f"{per_1000:.3f}", f"{local / calls * 1000:.5f}", "")
    verdict = "met" if per_1000 < TARGET_SECONDS_PER_1000_CALLS else "MISSED"
    print(f"  target: 1,000 calls under {TARGET_SECONDS_PER_1000_CALLS:g} s: {verdict}")
    return per_1000


def bench_transfer(student: StudentModule, repeat: int) -> None:
    x = np.ones(SHAPE, dtype=np.float32)
    megabytes = x.nbytes / 2**20
    student.cached_array(SHAPE)  # built once in the worker, outside the timings
    send = best_of(repeat, lambda: student.shape_of(x))
    receive = best_of(repeat, lambda: student.cached_array(SHAPE))
    both = best_of(repeat, lambda: student.identity(x))
    pickled = best_of(repeat, lambda: pickle.loads(pickle.dumps(x, protocol=5)))
    copied = best_of(repeat, lambda: x.copy())
    print(f"\nTransfer: one {SHAPE[0]:,} x {SHAPE[1]} float32 array ({megabytes:.0f} MiB), "
          f"best of {repeat}")
    row("", "seconds", "MiB/s", "vs pickle")
    for label, seconds in [("grader -> worker  shape_of(x)", send),
                           ("worker -> grader  cached_array()", receive),
                           ("both ways         identity(x)", both)]:
        row(label, f"{seconds:.3f}", f"{megabytes / seconds:,.0f}", f"{seconds / pickled:.1f}x")
    row("reference: pickle round trip", f"{pickled:.3f}", f"{megabytes / pickled:,.0f}", "1.0x")
    row("reference: x.copy()", f"{copied:.3f}", f"{megabytes / copied:,.0f}", "")


def bench_end_to_end(repeat: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        grade = [sys.executable, "-m", "autograder", "grade", "99_fake",
                 "--course", str(FAKE / "course.toml"),
                 "--submission", str(FAKE / "submissions" / "correct"), "--out", tmp]
        startup = [sys.executable, "-c", "import numpy, pytest, rich, autograder.plugin"]

        def run(command: list[str]) -> None:
            subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)

        graded = [best_of(1, lambda: run(grade)) for _ in range(repeat)]
        started = [best_of(1, lambda: run(startup)) for _ in range(repeat)]
    print(f"\nEnd to end: python -m autograder grade 99_fake (3 checks, correct), "
          f"{repeat} runs")
    row("", "best s", "median s", "")
    row("grade 99_fake", f"{min(graded):.2f}", f"{statistics.median(graded):.2f}", "")
    row("reference: python + grader imports", f"{min(started):.2f}",
        f"{statistics.median(started):.2f}", "")
    row("grading beyond the imports", f"{min(graded) - min(started):.2f}", "", "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000, help="small calls per run")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (best kept)")
    parser.add_argument("--strict", action="store_true",
                        help="exit with 1 when 1,000 small calls take a second or more")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        module = Path(tmp) / "bench.py"
        module.write_text(BENCH_MODULE)
        # the sandbox gradings use (bubblewrap where it runs), and the code it stages
        code = sandbox.stage_code(ROOT / "course")
        worker = Worker(module, "bench", WorkerPolicy("bench", 6.0, {}, ()),
                        tasks_package="course", sandbox=sandbox.choose(), code=code)
        try:
            student = StudentModule(worker, seed=0)
            start = time.perf_counter()
            student.add(np.ones(1), np.ones(1))
            first = time.perf_counter() - start
            print(f"Worker start (spawn, import numpy and the module, first call): {first:.2f} s")
            print()
            per_1000 = bench_calls(student, args.calls, args.repeat)
            bench_transfer(student, args.repeat)
        finally:
            worker.stop()
            shutil.rmtree(code, ignore_errors=True)
    bench_end_to_end(args.repeat)
    return 1 if args.strict and per_1000 >= TARGET_SECONDS_PER_1000_CALLS else 0


if __name__ == "__main__":
    sys.exit(main())
