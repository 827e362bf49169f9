"""Train a reference model of assignment 02 or 03 with several seeds and print the README table.

    .venv/bin/python benchmarks/reference_training.py build_cnn --seeds 0 1 2 3 4
    .venv/bin/python benchmarks/reference_training.py build_mlp --seeds 0 1 2 3 4

Each seed trains the solution's model with the solution's `train` on all 60,000 training
images, one training at a time in a fresh Keras session, and evaluates it on all 10,000 test
images, as the grader's performance tier does. The rows and the summary line are the
"Reference results" of the assignment's README; the grader's thresholds and time budget are
set from them. Not part of `make bench`: five seeds take 5 to 15 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import time
from pathlib import Path
from types import ModuleType

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from autograder import registry  # noqa: E402 (after the path is set)

# Every registered model builder (build_*) -> the solution module that defines it.
MODULES = {function: ROOT / "solutions" / a.id / a.module_file
           for a in registry.load().assignments.values()
           for function in a.functions if function.startswith("build_")}


def load_solution(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("builder", choices=sorted(MODULES))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    args = parser.parse_args()

    import keras

    from dlcourse.data import load_fashion_mnist

    solution = load_solution(MODULES[args.builder])
    (train_images, train_labels), (test_images, test_labels) = load_fashion_mnist()
    x, y = solution.preprocess(train_images, train_labels)
    x_test, y_test = solution.preprocess(test_images, test_labels)

    print("| model | parameters | seed | test accuracy | training time (s) | CPU time (s) "
          "| load average (start, end) |")
    print("|---|---|---|---|---|---|---|")
    accuracies, seconds = [], []
    for seed in args.seeds:
        keras.backend.clear_session()
        keras.utils.set_random_seed(seed)
        model = getattr(solution, args.builder)()
        load_start = os.getloadavg()[0]
        cpu_start, wall_start = os.times(), time.perf_counter()
        solution.train(model, x, y, seed=seed)
        wall = time.perf_counter() - wall_start
        cpu_end = os.times()
        cpu = (cpu_end.user - cpu_start.user) + (cpu_end.system - cpu_start.system)
        accuracy = solution.evaluate(model, x_test, y_test)["accuracy"]
        accuracies.append(accuracy)
        seconds.append(wall)
        print(f"| `{args.builder}()` + `train` | {model.count_params():,} | {seed} "
              f"| {accuracy:.2%} | {wall:.0f} | {cpu:.0f} "
              f"| {load_start:.1f}, {os.getloadavg()[0]:.1f} |", flush=True)
    print(f"\nOver {len(args.seeds)} seeds: test accuracy min {min(accuracies):.2%}, "
          f"mean {statistics.mean(accuracies):.2%}, max {max(accuracies):.2%}; training time "
          f"min {min(seconds):.0f} s, mean {statistics.mean(seconds):.0f} s, "
          f"max {max(seconds):.0f} s.")


if __name__ == "__main__":
    main()
