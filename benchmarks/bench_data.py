"""Dataset loading time of dlcourse.data against Keras' own loaders, on the same local files.

    .venv/bin/python benchmarks/bench_data.py [--repeats 5]

The real files come from $DLCOURSE_DATA_DIR or the project's datasets/ (nothing is
downloaded, nothing is written there): Keras reads them through a temporary KERAS_HOME of
symbolic links, and our cache is built in another temporary folder of links. Every case
runs once to warm the OS page cache, then `repeats` times interleaved with the others; the
table shows the median and the ratio to the Keras reference (< 1: faster than Keras).

References, both measured in this run:
- Fashion-MNIST: keras.datasets.fashion_mnist.load_data() (it reads the four .gz files and
  checks no hash).
- CIFAR-10: keras.datasets.cifar10.load_data() as shipped does on every call: SHA-256 of the
  archive, extraction to disk, decoding. Keras pins the official archive's hash; this copy is
  not byte-identical, so only the hash value it compares with is replaced. "decode only" is
  the same function reading an already extracted folder (its get_file skipped).
"""

from __future__ import annotations

import argparse
import functools
import gc
import hashlib
import os
import statistics
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from dlcourse import data  # noqa: E402  (after the sys.path line above)


def find_source() -> Path | None:
    """The first data directory that holds both real datasets, or None."""
    for root in data.data_dirs():
        fashion = all(
            (root / "fashion-mnist" / name).is_file() for name in data.FASHION_MNIST.files
        )
        if fashion and (root / "cifar-10" / "cifar-10-python.tar.gz").is_file():
            return root
    return None


def link_tree(source: Path, target: Path) -> None:
    """Symbolic links in `target` to every file of `source` (no copy)."""
    target.mkdir(parents=True, exist_ok=True)
    for path in source.iterdir():
        if path.is_file():
            (target / path.name).symlink_to(path)


def sha256_of(path: Path) -> str:
    """SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while block := stream.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def keras_cases(source: Path, scratch: Path) -> dict[str, Callable[[], object]]:
    """Keras' loaders on the real files, through a temporary KERAS_HOME."""
    home = scratch / "keras_home"
    os.environ["KERAS_HOME"] = str(home)  # read when keras is imported, just below
    import keras
    from keras.src.datasets import cifar10
    from keras.src.utils import file_utils

    link_tree(source / "fashion-mnist", home / "datasets" / "fashion-mnist")
    archive = source / "cifar-10" / "cifar-10-python.tar.gz"
    (home / "datasets").mkdir(parents=True, exist_ok=True)
    (home / "datasets" / "cifar-10-batches-py-target_archive").symlink_to(archive)
    extracted = scratch / "extracted"
    with tarfile.open(archive) as tar:
        tar.extractall(extracted, filter="data")

    local_hash = sha256_of(archive)
    as_shipped = functools.partial(file_utils.get_file, file_hash=local_hash)

    def cifar_as_shipped():
        cifar10.get_file = lambda **kwargs: as_shipped(**{**kwargs, "file_hash": local_hash})
        return keras.datasets.cifar10.load_data()

    def cifar_decode_only():
        cifar10.get_file = lambda **kwargs: str(extracted)
        return keras.datasets.cifar10.load_data()

    return {
        "fashion/keras": keras.datasets.fashion_mnist.load_data,
        "cifar/keras": cifar_as_shipped,
        "cifar/keras-decode": cifar_decode_only,
        "_extracted": extracted,
    }


def our_cases(source: Path, scratch: Path, extracted: Path) -> dict[str, Callable[[], object]]:
    """dlcourse.data on the same files: no cache (archive, folder) and cached."""
    cached = scratch / "ours"
    link_tree(source / "fashion-mnist", cached / "fashion-mnist")
    link_tree(source / "cifar-10", cached / "cifar-10")
    folder = scratch / "ours_folder"
    (folder / "cifar-10").mkdir(parents=True)
    (folder / "cifar-10" / "cifar-10-batches-py").symlink_to(extracted / "cifar-10-batches-py")

    def load(spec, root, cache):
        return lambda: data.load_dataset(spec, search_dirs=[root], download=False, cache=cache)

    return {
        "fashion/ours": load(data.FASHION_MNIST, source, False),
        "fashion/ours-cached": load(data.FASHION_MNIST, cached, True),
        "cifar/ours-archive": load(data.CIFAR10, source, False),
        "cifar/ours-folder": load(data.CIFAR10, folder, False),
        "cifar/ours-cached": load(data.CIFAR10, cached, True),
    }


def measure(cases: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median seconds per case: one warm-up call each, then `repeats` interleaved rounds."""
    times: dict[str, list[float]] = {name: [] for name in cases}
    for round_ in range(repeats + 1):
        for name, case in cases.items():
            gc.collect()
            start = time.perf_counter()
            case()
            elapsed = time.perf_counter() - start
            if round_:
                times[name].append(elapsed)
    return {name: statistics.median(values) for name, values in times.items()}


ROWS = [
    # (label, case, reference case)
    ("Fashion-MNIST  Keras load_data()", "fashion/keras", "fashion/keras"),
    ("Fashion-MNIST  dlcourse, no cache", "fashion/ours", "fashion/keras"),
    ("Fashion-MNIST  dlcourse, cached", "fashion/ours-cached", "fashion/keras"),
    ("CIFAR-10       Keras load_data() as shipped", "cifar/keras", "cifar/keras"),
    ("CIFAR-10       Keras, decode only", "cifar/keras-decode", "cifar/keras-decode"),
    ("CIFAR-10       dlcourse, archive, no cache", "cifar/ours-archive", "cifar/keras"),
    ("CIFAR-10       dlcourse, folder, no cache", "cifar/ours-folder", "cifar/keras-decode"),
    ("CIFAR-10       dlcourse, cached", "cifar/ours-cached", "cifar/keras"),
    ("CIFAR-10       dlcourse, cached", "cifar/ours-cached", "cifar/keras-decode"),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds (default 5)")
    args = parser.parse_args()
    source = find_source()
    if source is None:
        print(
            f"bench_data: skipped, no local data (set {data.DATA_DIR_ENV}; see datasets/README.md)"
        )
        return 0
    with tempfile.TemporaryDirectory(prefix="bench_data_") as tmp:
        scratch = Path(tmp)
        cases = keras_cases(source, scratch)
        extracted = cases.pop("_extracted")
        cases.update(our_cases(source, scratch, extracted))
        fashion = {name: case for name, case in cases.items() if name.startswith("fashion/")}
        cifar = {name: case for name, case in cases.items() if name.startswith("cifar/")}
        medians = {**measure(fashion, 3 * args.repeats), **measure(cifar, args.repeats)}
    print(
        f"data: {source}; median of {3 * args.repeats} (Fashion-MNIST) and {args.repeats} "
        "(CIFAR-10) interleaved runs after one warm-up (OS page cache warm)"
    )
    print(f"{'case':46s} {'seconds':>8s}  {'vs':>6s}  reference")
    for label, case, reference in ROWS:
        ratio = medians[case] / medians[reference]
        print(f"{label:46s} {medians[case]:8.3f}  {ratio:6.2f}  {reference}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
