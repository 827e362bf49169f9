"""Train the reference solution of assignment 04 on this machine's CPU and record the run.

    python solutions/04_cifar10_challenge/train_reference.py [--seed 0] [--out PATH] [--fast]

Loads CIFAR-10 with dlcourse.data.load_cifar10, builds challenge.build_model(), trains it
with challenge.train() while recording the test accuracy after every epoch (the evaluation
time is kept off the training clock), saves the model to --out (default
submission/model.keras beside this script), reloads it as the grader does
(keras.saving.load_model(path, safe_mode=True, compile=False)), measures its accuracy on all
10,000 test images and writes TRAINING.md beside this script: the command, the CPU, the
library versions, the per-epoch curve and the final accuracy. A section of TRAINING.md that
starts with MANUAL_HEADING (written by hand) is kept when the file is rewritten.

--fast is a smoke run of a few seconds: 2,000 training images, one epoch, and the model and
TRAINING.md go to a fresh temporary folder, never over the committed files.

Shapes: test images (10000, 32, 32, 3) uint8, labels (10000, 1); the model maps
(N, 32, 32, 3) pixels in [0, 255] to (N, 10) class probabilities.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import challenge
import keras
import numpy as np
import tensorflow as tf

from dlcourse.data import load_cifar10

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "submission" / "model.keras"
REPORT = HERE / "TRAINING.md"
MANUAL_HEADING = "## How the recipe was chosen"
FAST_IMAGES = 2000
# The lscpu flags that decide how fast TensorFlow's CPU kernels can be.
RELEVANT_FLAG_PREFIXES = ("avx512", "amx", "avx_vnni", "avx2", "fma")


def accuracy(model: keras.Model, x: np.ndarray, y: np.ndarray) -> float:
    """Fraction of images whose most probable class is the label: x (N, H, W, C), y (N, 1)."""
    probabilities = model.predict(x, batch_size=1000, verbose=0)  # (N, K)
    return float(np.mean(probabilities.argmax(axis=1) == y.reshape(-1)))


def cpu_description() -> dict[str, str]:
    """Model name, core count and the relevant instruction-set flags, from lscpu."""
    try:
        lines = subprocess.run(["lscpu"], capture_output=True, text=True,
                               check=True).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        return {"model": platform.processor() or "unknown", "cpus": str(os.cpu_count()),
                "flags": "unknown (no lscpu)"}
    fields = dict(line.split(":", 1) for line in lines if ":" in line)
    fields = {key.strip(): value.strip() for key, value in fields.items()}
    flags = [flag for flag in fields.get("Flags", "").split()
             if flag.startswith(RELEVANT_FLAG_PREFIXES) or "bf16" in flag]
    return {"model": fields.get("Model name", "unknown"), "cpus": fields.get("CPU(s)", "?"),
            "flags": " ".join(flags) or "none of " + ", ".join(RELEVANT_FLAG_PREFIXES)}


def load_average() -> str:
    """The 1-, 5- and 15-minute load averages, as `uptime` shows them."""
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())


def write_report(path: Path, facts: dict[str, str], curve: list[tuple[int, float, float]],
                 ) -> None:
    """Write TRAINING.md: the facts of the run, then the per-epoch table.

    curve holds one (epoch, elapsed training seconds, test accuracy) per epoch. A section
    headed MANUAL_HEADING in the existing file is copied to the end of the new one.
    """
    manual = ""
    if path.exists():
        old = path.read_text()
        if MANUAL_HEADING in old:
            manual = "\n" + old[old.index(MANUAL_HEADING):]
    lines = [
        "# How the reference model of assignment 04 was trained",
        "",
        "Written by `train_reference.py` from the run it describes.",
        "",
        "| | |",
        "|---|---|",
        *(f"| {key} | {value} |" for key, value in facts.items()),
        "",
        "## Test accuracy after each epoch",
        "",
        "Accuracy of the model (flip test-time augmentation included) on all 10,000 test",
        "images; the clock counts training only, not these evaluations.",
        "",
        "| epoch | elapsed training (s) | test accuracy |",
        "|---:|---:|---:|",
        *(f"| {epoch} | {seconds:.1f} | {acc:.4f} |" for epoch, seconds, acc in curve),
    ]
    path.write_text("\n".join(lines) + "\n" + manual)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="where to save the trained model (.keras)")
    parser.add_argument("--fast", action="store_true",
                        help="smoke run: 2,000 images, 1 epoch, output to a temporary folder")
    args = parser.parse_args(argv)
    out, report = args.out, REPORT
    if args.fast:
        folder = Path(tempfile.mkdtemp(prefix="cifar10_reference_"))
        out, report = folder / "model.keras", folder / "TRAINING.md"
    out.parent.mkdir(parents=True, exist_ok=True)

    (x_train, y_train), (x_test, y_test) = load_cifar10()
    if args.fast:
        x_train, y_train = x_train[:FAST_IMAGES], y_train[:FAST_IMAGES]
    keras.utils.set_random_seed(args.seed)
    model = challenge.build_model()

    curve: list[tuple[int, float, float]] = []
    clock = {"trained": 0.0, "since": 0.0}

    def epoch_end(epoch: int, trained: keras.Model) -> None:
        clock["trained"] += time.perf_counter() - clock["since"]
        curve.append((epoch + 1, clock["trained"], accuracy(trained, x_test, y_test)))
        print(f"epoch {epoch + 1}: {clock['trained']:7.1f} s of training, "
              f"test accuracy {curve[-1][2]:.4f}", flush=True)
        trained.stop_training = args.fast
        clock["since"] = time.perf_counter()  # the evaluation above is not training time

    load_at_start = load_average()
    started = time.perf_counter()
    clock["since"] = started
    challenge.train(model, x_train, y_train, seed=args.seed, epoch_end=epoch_end)
    clock["trained"] += time.perf_counter() - clock["since"]
    wall = time.perf_counter() - started
    load_at_end = load_average()

    model.save(out)
    reloaded = keras.saving.load_model(out, safe_mode=True, compile=False)
    final = accuracy(reloaded, x_test, y_test)
    parameters = reloaded.count_params()
    print(f"saved {out} ({out.stat().st_size / 2**20:.1f} MiB): {parameters:,} parameters, "
          f"test accuracy after reloading {final:.4f}, {clock['trained']:.0f} s of training")

    cpu = cpu_description()
    command = "python " + " ".join([str(Path(sys.argv[0])), *sys.argv[1:]])
    facts = {
        "command": f"`{command}`",
        "seed": str(args.seed),
        "training images": f"{len(x_train):,}",
        "CPU": f"{cpu['model']}, {cpu['cpus']} cores",
        "CPU flags (the relevant ones from lscpu)": cpu["flags"],
        "load average at start / end (1, 5, 15 min)": f"{load_at_start} / {load_at_end}",
        "Python / TensorFlow / Keras": (f"{platform.python_version()} / {tf.__version__} / "
                                        f"{keras.__version__}"),
        "parameters": f"{parameters:,}",
        "epochs": str(len(curve)),
        "training wall time (evaluations excluded)": (f"{clock['trained']:.0f} s "
                                                      f"({clock['trained'] / 60:.1f} min)"),
        "script wall time of training with the evaluations": f"{wall:.0f} s",
        "saved model": f"`{out.name}`, {out.stat().st_size / 2**20:.1f} MiB",
        "test accuracy of the saved model, reloaded with safe_mode=True": f"**{final:.4f}**",
    }
    write_report(report, facts, curve)
    print(f"wrote {report}")


if __name__ == "__main__":
    main()
