"""Shared configuration of the project's tests."""

# Imports used by the "datasets" section below.
import gzip
import hashlib
import io
import os
import pickle
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from dlcourse import data

# The grader's fake checks and fake submissions (some of them hostile: a conftest.py that
# forces passes, a sitecustomize.py) are data for the grader's self-tests, never collected here.
collect_ignore = ["fixtures/grader"]


# ----------------------------------------------------------------------------- datasets
# Fixtures for tests/test_data_*.py (dlcourse.data): the real data from $DLCOURSE_DATA_DIR,
# and tiny synthetic Fashion-MNIST / CIFAR-10 files with a DatasetSpec that expects them.

REQUIRE_DATA_ENV = "DLCOURSE_REQUIRE_DATA"
FASHION_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
CIFAR_ARCHIVE = "cifar-10/cifar-10-python.tar.gz"


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """The folder $DLCOURSE_DATA_DIR that holds the real Fashion-MNIST and CIFAR-10 files.

    Skips the test when the variable is unset or the files are missing; fails it instead
    when DLCOURSE_REQUIRE_DATA=1 (CI), so that missing data is never a silent skip there.
    """
    root = data.data_dirs()[0] if os.environ.get(data.DATA_DIR_ENV, "").strip() else None
    wanted = [f"fashion-mnist/{name}" for name in FASHION_FILES] + [CIFAR_ARCHIVE]
    if root is None:
        reason = f"${data.DATA_DIR_ENV} is not set: no real data to test against"
    else:
        missing = [name for name in wanted if not (root / name).is_file()]
        if not missing:
            return root
        reason = f"${data.DATA_DIR_ENV}={root} lacks {', '.join(missing)}"
    if os.environ.get(REQUIRE_DATA_ENV) == "1":
        pytest.fail(f"{reason} (and {REQUIRE_DATA_ENV}=1 requires it)")
    pytest.skip(reason)


def _idx_gz(array: np.ndarray) -> bytes:
    """A uint8 array as a gzipped IDX file."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return gzip.compress(header + array.tobytes(), mtime=0)


def _cifar_batch(images: np.ndarray, labels: np.ndarray, label: bytes) -> bytes:
    """A CIFAR python batch: images (n, 3, 32, 32) as rows of 3072 bytes, labels a list."""
    batch = {
        b"batch_label": label,
        b"labels": [int(y) for y in labels],
        b"data": images.reshape(len(images), -1),
        b"filenames": [b"%05d.png" % i for i in range(len(images))],
    }
    return pickle.dumps(batch, protocol=4)  # protocol 2 would pickle bytes via _codecs


def _tar_gz(members: dict) -> bytes:
    """A .tar.gz holding cifar-10-batches-py/<name> for each {name: bytes}."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, blob in members.items():
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(blob)
            archive.addfile(info, io.BytesIO(blob))
    return buffer.getvalue()


@dataclass
class SyntheticData:
    """Tiny datasets in the real formats, and specs whose digests expect exactly them.

    Attributes:
    - fashion: {file name: gzipped IDX bytes}; fashion_arrays: the arrays they hold.
    - cifar_batches: {batch name: pickle bytes}; cifar_archive: the .tar.gz bytes;
      cifar_arrays: raw arrays as stored, x (N, 3, 32, 32), y (N,).
    - fashion_spec, cifar_spec: DatasetSpecs like the real ones, without mirrors.
    """

    fashion: dict
    fashion_arrays: dict
    fashion_spec: data.DatasetSpec
    cifar_batches: dict
    cifar_archive: bytes
    cifar_arrays: dict
    cifar_spec: data.DatasetSpec
    tar_gz = staticmethod(_tar_gz)

    def write_fashion(self, root: Path) -> Path:
        """Write the four Fashion files into root/fashion-mnist/; return that folder."""
        folder = root / self.fashion_spec.folder
        folder.mkdir(parents=True, exist_ok=True)
        for name, blob in self.fashion.items():
            (folder / name).write_bytes(blob)
        return folder

    def write_cifar_archive(self, root: Path) -> Path:
        """Write root/cifar-10/cifar-10-python.tar.gz; return its path."""
        folder = root / self.cifar_spec.folder
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "cifar-10-python.tar.gz"
        path.write_bytes(self.cifar_archive)
        return path

    def write_cifar_folder(self, root: Path) -> Path:
        """Write root/cifar-10/cifar-10-batches-py/ with the six batches; return it."""
        folder = root / self.cifar_spec.folder / "cifar-10-batches-py"
        folder.mkdir(parents=True, exist_ok=True)
        for name, blob in self.cifar_batches.items():
            (folder / name).write_bytes(blob)
        return folder


def _synthetic_fashion(rng: np.random.Generator) -> tuple[dict, dict, data.DatasetSpec]:
    """Fashion-MNIST-like files with 6 training and 3 test images of 28x28."""
    arrays = {
        "x_train": rng.integers(0, 256, (6, 28, 28), dtype=np.uint8),
        "y_train": rng.integers(0, 10, 6, dtype=np.uint8),
        "x_test": rng.integers(0, 256, (3, 28, 28), dtype=np.uint8),
        "y_test": rng.integers(0, 10, 3, dtype=np.uint8),
    }
    files = {name: _idx_gz(arrays[keys[0]]) for name, keys in data.FASHION_MNIST.files.items()}
    spec = data.DatasetSpec(
        name="Tiny-Fashion",
        folder="fashion-mnist",
        format="idx",
        files=data.FASHION_MNIST.files,
        mirrors=(),
        file_sha256={name: hashlib.sha256(blob).hexdigest() for name, blob in files.items()},
        content_sha256={key: data.array_digest(a) for key, a in arrays.items()},
    )
    return files, arrays, spec


def _synthetic_cifar(rng: np.random.Generator) -> tuple[dict, bytes, dict, data.DatasetSpec]:
    """CIFAR-10-like batches of 2 images each: 10 training and 2 test images."""
    images = rng.integers(0, 256, (12, 3, 32, 32), dtype=np.uint8)
    labels = rng.integers(0, 10, 12, dtype=np.uint8)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    batches = {
        name: _cifar_batch(images[2 * i : 2 * i + 2], labels[2 * i : 2 * i + 2], name.encode())
        for i, name in enumerate(names)
    }
    archive = _tar_gz(batches)
    arrays = {
        "x_train": images[:10],
        "y_train": labels[:10],
        "x_test": images[10:],
        "y_test": labels[10:],
    }
    spec = data.DatasetSpec(
        name="Tiny-CIFAR",
        folder="cifar-10",
        format="cifar",
        files=data.CIFAR10.files,
        mirrors=(),
        file_sha256={"cifar-10-python.tar.gz": hashlib.sha256(archive).hexdigest()},
        content_sha256={key: data.array_digest(a) for key, a in arrays.items()},
    )
    return batches, archive, arrays, spec


@pytest.fixture(scope="session")
def synthetic_data() -> SyntheticData:
    """Tiny Fashion-MNIST and CIFAR-10 files in the real formats, with matching specs."""
    rng = np.random.default_rng(0)
    fashion, fashion_arrays, fashion_spec = _synthetic_fashion(rng)
    batches, archive, cifar_arrays, cifar_spec = _synthetic_cifar(rng)
    return SyntheticData(
        fashion, fashion_arrays, fashion_spec, batches, archive, cifar_arrays, cifar_spec
    )


@pytest.fixture
def data_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty stand-in for the project's datasets/ folder, with $DLCOURSE_DATA_DIR unset."""
    home = tmp_path / "datasets"
    home.mkdir()
    monkeypatch.setattr(data, "DATA_HOME", home)
    monkeypatch.delenv(data.DATA_DIR_ENV, raising=False)
    return home


# ------------------------------------------------------------------------- end datasets
