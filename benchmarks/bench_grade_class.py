"""Benchmark of `grade-class`: students per minute on assignment 01, with 1 and 2 jobs.

Builds N student repositories (git, one commit each) holding the released assignment 01 with
the reference convolution.py, then times `python -m autograder grade-class` over them: the
clone, the official (sandboxed, hidden checks) grading and the records, end to end. The
reference is the same run with --jobs 1; on a machine with fewer free cores than jobs the
speed-up is smaller than the number of jobs.

Run: `python benchmarks/bench_grade_class.py [--students N] [--jobs 1 2]`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ASSIGNMENT = "01_kernel_convolution"


def make_students(root: Path, count: int) -> Path:
    """`count` repositories with the solved assignment 01; the roster listing them."""
    lines = ["student,repository"]
    for i in range(count):
        repo = root / f"student{i}"
        folder = repo / "assignments" / ASSIGNMENT
        shutil.copytree(ROOT / "assignments" / ASSIGNMENT, folder)
        shutil.copy(ROOT / "solutions" / ASSIGNMENT / "convolution.py", folder)
        git = ["git", "-C", str(repo), "-c", "user.name=Bench", "-c", "user.email=b@example.com"]
        subprocess.run([*git, "init", "--quiet"], check=True)
        subprocess.run([*git, "add", "--all"], check=True)
        subprocess.run([*git, "commit", "--quiet", "-m", "solved"], check=True)
        lines.append(f"student{i},{repo}")
    roster = root / "roster.csv"
    roster.write_text("\n".join(lines) + "\n")
    return roster


def grade_class(roster: Path, out: Path, jobs: int) -> float:
    """Seconds of one grade-class run; every student must come out graded, full marks."""
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_STEP_SUMMARY"}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade-class", str(roster),
                           "--out", str(out), "--assignments", ASSIGNMENT, "--jobs", str(jobs)],
                          cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    rows = (out / "gradebook.csv").read_text().splitlines()[1:] if proc.returncode == 0 else []
    if proc.returncode != 0 or not rows or any(",graded," not in r for r in rows):
        sys.exit(f"grade-class failed (exit {proc.returncode}):\n{proc.stdout}{proc.stderr}")
    return seconds


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=6)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    print(f"{cpu_model()}, {os.cpu_count()} cores, load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory(prefix="bench-grade-class-") as tmp:
        roster = make_students(Path(tmp), args.students)
        reference = None
        for jobs in args.jobs:
            seconds = grade_class(roster, Path(tmp) / f"out-jobs{jobs}", jobs)
            reference = reference or seconds
            print(f"--jobs {jobs}: {args.students} students in {seconds:.1f} s = "
                  f"{60 * args.students / seconds:.1f} students/min "
                  f"(x{reference / seconds:.2f} of --jobs {args.jobs[0]})")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
