"""Time and memory of Gradescope's run_autograder on each solution, against Gradescope's limits.

    .venv/bin/python benchmarks/gradescope_limits.py [ID ...] [--limit]

For each assignment (default: all), as root: builds the assignment's autograder.zip, unpacks
it into a fake /autograder tree, puts the solution folder there as a repository upload
(`assignments/<id>/`) and runs `bash run_autograder` (with this checkout's virtual
environment, AUTOGRADER_PYTHON) in a cgroup of its own. It prints one Markdown row per
assignment:

- wall: the run's wall time here; CPU: user + system time of every process of the run, as
  the cgroup counts it (os.wait4 would miss the workers killed with bubblewrap's PID
  namespace: they are reaped outside the run's process tree);
- "at 0.5 vCPU": CPU / 0.5, an estimate of the wall time under Gradescope's default half
  CPU (with --limit the run is truly limited and "wall" is the measured figure);
- memory: the cgroup's peak (cgroup v2 memory.peak or v1 memory.max_usage_in_bytes: all
  processes, page cache included, but not pages another cgroup brought in first, such as
  TensorFlow's libraries cached by an earlier run), sampled every 0.2 s: the tree's summed
  RSS (an upper bound: shared libraries count once per process) and an estimate of what a
  fresh container is charged (every process's private memory plus the largest file-backed
  RSS once); and the largest single process (ru_maxrss);
- score and whether results.json has a leaderboard.

--limit runs under Gradescope's defaults: 768 MB of memory (the kernel kills past it) and
half a CPU (cgroup v2 cpu.max "50000 100000", v1 cfs_quota_us). Not part of `make bench`:
02 and 03 train models (minutes). DLCOURSE_DATA_DIR should name the datasets.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from autograder import gradescope, processes, registry  # noqa: E402 (after the path is set)

GRADESCOPE_MEMORY_MB, GRADESCOPE_CPUS, GRADESCOPE_TIMEOUT_S = 768, 0.5, 600
PERIOD_US = 100_000


@contextmanager
def cgroup(limit: bool):
    """A fresh cgroup (v2, else v1 memory, cpu and cpuacct below this process's own): yields
    (join: a function for preexec_fn, usage: a function giving (CPU seconds, peak bytes))."""
    name = f"gs-bench-{os.getpid()}"
    unified = Path("/sys/fs/cgroup")
    made: list[Path] = []
    try:
        if (unified / "cgroup.controllers").is_file():
            group = unified / name
            group.mkdir()
            made.append(group)
            if limit:
                (group / "memory.max").write_text(f"{GRADESCOPE_MEMORY_MB}M")
                (group / "cpu.max").write_text(f"{int(GRADESCOPE_CPUS * PERIOD_US)} {PERIOD_US}")
            procs = [group / "cgroup.procs"]

            def usage() -> tuple[float, int]:
                stat = dict(line.split() for line in (group / "cpu.stat").read_text().splitlines())
                return int(stat["usage_usec"]) / 1e6, int((group / "memory.peak").read_text())
        else:
            memory = _v1_group("memory") / name
            cpu = _v1_group("cpu") / name
            cpuacct = _v1_group("cpuacct") / name
            for group in (memory, cpu, cpuacct):
                group.mkdir()
                made.append(group)
            if limit:
                (memory / "memory.limit_in_bytes").write_text(f"{GRADESCOPE_MEMORY_MB}M")
                (cpu / "cpu.cfs_period_us").write_text(str(PERIOD_US))
                (cpu / "cpu.cfs_quota_us").write_text(str(int(GRADESCOPE_CPUS * PERIOD_US)))
            procs = [group / "cgroup.procs" for group in made]

            def usage() -> tuple[float, int]:
                return (int((cpuacct / "cpuacct.usage").read_text()) / 1e9,
                        int((memory / "memory.max_usage_in_bytes").read_text()))

        def join() -> None:
            for path in procs:
                path.write_text(str(os.getpid()))

        yield join, usage
    finally:
        for group in reversed(made):
            for _ in range(50):  # the last processes may take a moment to leave
                try:
                    group.rmdir()
                    break
                except OSError:
                    time.sleep(0.1)


def _v1_group(controller: str) -> Path:
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, names, path = line.split(":", 2)
        if controller in names.split(","):
            return Path("/sys/fs/cgroup") / controller / path.lstrip("/")
    raise OSError(f"no cgroup v1 {controller} controller")


def tree_memory(pid: int) -> tuple[int, int]:
    """(summed RSS, estimated charge) of `pid`'s tree in bytes. The summed RSS counts the
    libraries every process maps (TensorFlow in the grader and the worker) once per process;
    the estimate counts private memory of each process plus the largest file-backed RSS
    once, as a fresh container would be charged for them."""
    rss = anon = shared = files = 0
    for process in processes.descendants(pid):
        try:
            status = Path(f"/proc/{process}/status").read_text()
        except OSError:
            continue
        fields = {line.split(":")[0]: int(line.split()[1]) * 1024
                  for line in status.splitlines() if line.startswith(("VmRSS", "Rss"))}
        rss += fields.get("VmRSS", 0)
        anon += fields.get("RssAnon", 0)
        shared += fields.get("RssShmem", 0)
        files = max(files, fields.get("RssFile", 0))
    return rss, anon + shared + files


def measure(assignment: registry.Assignment, course: registry.Course, limit: bool) -> dict:
    with tempfile.TemporaryDirectory(prefix="gs-bench-") as tmp:
        root = Path(tmp)
        archive = root / "autograder.zip"
        gradescope.build_zip(course, [assignment.id], archive)
        with zipfile.ZipFile(archive) as z:
            z.extractall(root / "source")
        shutil.copy(root / "source" / "run_autograder", root / "run_autograder")
        shutil.copytree(ROOT / "solutions" / assignment.id,
                        root / "submission" / "assignments" / assignment.id)
        env = {**os.environ, "AUTOGRADER_ROOT": str(root), "AUTOGRADER_PYTHON": sys.executable}
        log = (root / "stdout").open("w")
        with cgroup(limit) as (join, usage):
            start = time.perf_counter()
            process = subprocess.Popen(["bash", str(root / "run_autograder")], env=env,
                                       stdout=log, stderr=subprocess.STDOUT, preexec_fn=join)
            sampled = [0, 0]
            done = threading.Event()

            def sample() -> None:
                while not done.wait(0.2):
                    sampled[:] = map(max, sampled, tree_memory(process.pid))

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            _, status, rusage = os.wait4(process.pid, 0)
            wall = time.perf_counter() - start
            done.set()
            sampler.join()
            process.returncode = os.waitstatus_to_exitcode(status)
            time.sleep(1)  # processes killed with bubblewrap's PID namespace end a moment later
            cpu, cgroup_peak = usage()
        log.close()
        results = json.loads((root / "results" / "results.json").read_text())
        return {
            "id": assignment.id, "wall": wall, "cpu": cpu,
            "cgroup_mb": cgroup_peak / 2**20, "rss_mb": sampled[0] / 2**20,
            "estimate_mb": sampled[1] / 2**20,
            "largest_mb": rusage.ru_maxrss / 1024, "score": results["score"],
            "max": results.get("extra_data", {}).get("max_score"),
            "leaderboard": results.get("leaderboard") or [],
            "error": next((line for line in results.get("output", "").splitlines()
                           if line.startswith("GRADER ERROR")), None),
        }


def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in
                  Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), "unknown CPU")
    return f"{model}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("assignments", nargs="*", metavar="ASSIGNMENT")
    parser.add_argument("--limit", action="store_true",
                        help=f"run under {GRADESCOPE_MEMORY_MB} MB and {GRADESCOPE_CPUS} CPU")
    args = parser.parse_args()
    if os.geteuid() != 0:
        parser.error("cgroups need root")
    course = registry.load()
    print(f"Machine: {machine()} (before){'; limited to 768 MB, 0.5 CPU' if args.limit else ''}")
    print("| assignment | score | wall s | CPU s | at 0.5 vCPU (est.) s | cgroup peak MB "
          "| summed RSS peak MB | estimated peak MB | largest process MB | leaderboard |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for assignment in course.select(args.assignments):
        row = measure(assignment, course, args.limit)
        board = ", ".join(f"{e['name']} {e['value']:g}" for e in row["leaderboard"]) or "-"
        score = f"{row['score']:g}/{row['max']:g}" + (f" ({row['error']})" if row["error"] else "")
        print(f"| {row['id']} | {score} | {row['wall']:.0f} | {row['cpu']:.0f} | "
              f"{row['cpu'] / GRADESCOPE_CPUS:.0f} | {row['cgroup_mb']:.0f} | "
              f"{row['rss_mb']:.0f} | {row['estimate_mb']:.0f} | {row['largest_mb']:.0f} | "
              f"{board} |", flush=True)
    print(f"Machine: {machine()} (after)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
