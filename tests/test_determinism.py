"""Is a grade the same under any load, and does a hang cost seconds, not minutes?

Assignment 01 is graded end to end by the CLI: correct solutions written three ways keep the
same results while the worker is stopped 90% of the time from outside (what a noisy
neighbour on a shared runner does) and while both cores are busy; a submission whose every
function loops forever is graded in under a minute with every check reported.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from grader_helpers import worker_processes_since

ROOT = Path(__file__).resolve().parent.parent
ASSIGNMENT = "01_kernel_convolution"
MODULE = "convolution.py"
VARIANTS = ROOT / "tests" / "fixtures" / "conv_variants"
CORRECT = {"solution": ROOT / "solutions" / ASSIGNMENT / MODULE,
           "einsum": VARIANTS / "alt_einsum.py", "offset_loop": VARIANTS / "alt_offset_loop.py"}
HANG_LIMIT_S = 60


def grade(source: str, tmp_path: Path, name: str) -> tuple[dict, float]:
    """Grade one convolution.py; (results.json, seconds)."""
    submission = tmp_path / name / "submission"
    (submission / ASSIGNMENT).mkdir(parents=True)
    (submission / ASSIGNMENT / MODULE).write_text(source, encoding="utf-8")
    out = tmp_path / name / "out"
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "autograder", "grade", ASSIGNMENT,
                           "--submission", str(submission), "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)
    seconds = time.perf_counter() - start
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads((out / "results.json").read_text(encoding="utf-8")), seconds


def verdicts(results: dict) -> list[tuple]:
    """What decides a grade, check by check: name, score, status and message."""
    return [(t["name"], t["score"], t["status"], t["output"]) for t in results["tests"]]


@contextmanager
def worker_stopped_most_of_the_time(start: float) -> Iterator[None]:
    """SIGSTOP every worker started since `start` for 9 ms of every 10 ms, from outside."""
    done = threading.Event()

    def slow_down() -> None:
        while not done.is_set():
            pids = [pid for pid in worker_processes_since(start) if _is_python_worker(pid)]
            for sig, pause in ((signal.SIGSTOP, 0.009), (signal.SIGCONT, 0.001)):
                for pid in pids:
                    try:
                        os.kill(pid, sig)
                    except ProcessLookupError:
                        pass
                time.sleep(pause)

    thread = threading.Thread(target=slow_down, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
        for pid in worker_processes_since(start):
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass


def _is_python_worker(pid: int) -> bool:
    try:
        return b"autograder.worker" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


@contextmanager
def both_cores_busy() -> Iterator[None]:
    """Two busy loops, one per core, for the duration."""
    loops = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
             for _ in range(os.cpu_count() or 2)]
    try:
        yield
    finally:
        for loop in loops:
            loop.kill()
            loop.wait()


@pytest.mark.slow
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("name", list(CORRECT))
def test_the_same_results_under_any_load(name, tmp_path):
    """Does a correct conv2d written this way get identical results, check by check, on a
    quiet machine, with its worker stopped 90% of the time, and with both cores busy
    (twice each)?"""
    source = CORRECT[name].read_text(encoding="utf-8")
    quiet, _ = grade(source, tmp_path, "quiet")
    assert quiet["score"] == 100, verdicts(quiet)
    for attempt in range(2):
        with worker_stopped_most_of_the_time(time.time()):
            slowed, seconds = grade(source, tmp_path, f"slowed-{attempt}")
        assert verdicts(slowed) == verdicts(quiet), f"slowed worker ({seconds:.0f} s)"
        with both_cores_busy():
            busy, _ = grade(source, tmp_path, f"busy-{attempt}")
        assert verdicts(busy) == verdicts(quiet), "both cores busy"


def hanging(source: str, functions: list[str] | None = None) -> str:
    """`source` with each (or the named) function body's region replaced by an endless loop."""
    skeleton = (ROOT / "assignments" / ASSIGNMENT / MODULE).read_text(encoding="utf-8")
    if functions is None:
        return skeleton.replace("raise NotImplementedError()", "while True:\n        pass")
    for function in functions:
        source, count = re.subn(rf"(\ndef {function}\(.*?\n)(    )", r"\1\2while True:\n"
                                r"        pass\n\2", source, count=1, flags=re.S)
        assert count == 1, function
    return source


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_every_function_hanging_costs_under_a_minute(tmp_path):
    """Is a submission whose every function loops forever graded in under a minute, every
    check reported, each saying where the code hung?"""
    results, seconds = grade(hanging(""), tmp_path, "all")
    print(f"every function hangs: graded in {seconds:.1f} s")
    assert seconds < HANG_LIMIT_S, f"{seconds:.0f} s"
    assert results["score"] == 0
    for test in results["tests"]:
        assert not test["output"].startswith("did not run"), test
    visible = [t["output"] for t in results["tests"] if "hidden" not in t["tags"]]
    assert all("did not return" in o or "was not called" in o or "CPU time" in o
               for o in visible if not o.startswith("the check could not")), visible


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_hanging_relu_costs_only_the_checks_that_call_it(tmp_path):
    """With a correct solution whose relu loops forever, does the grading take under a minute
    and keep every point of the checks that never call relu?"""
    solution = CORRECT["solution"].read_text(encoding="utf-8")
    results, seconds = grade(hanging(solution, ["relu"]), tmp_path, "relu")
    print(f"relu hangs: graded in {seconds:.1f} s")
    assert seconds < HANG_LIMIT_S
    lost = {t["name"] for t in results["tests"] if t["score"] < t["max_score"]}
    assert any(name.startswith("relu") for name in lost)
    assert len(lost) <= 3, lost  # relu's check, the dtype check and the inputs check
    assert results["score"] >= 100 - 2 - 3 - 3
