"""Fashion-MNIST and CIFAR-10, loaded exactly as Keras loads them, without TensorFlow.

    from dlcourse.data import load_fashion_mnist
    (x_train, y_train), (x_test, y_test) = load_fashion_mnist()

Shapes (N examples; uint8 everywhere, pixels 0..255, labels 0..9 indexing *_CLASSES):
- Fashion-MNIST: x (N, 28, 28), y (N,); N = 60000 train, 10000 test.
- CIFAR-10: x (N, 32, 32, 3) channels-last, y (N, 1); N = 50000 train, 10000 test.

The arrays equal those of keras.datasets.<name>.load_data() in shape, dtype, order and
memory layout (CIFAR's x is a transposed view of channels-first data, as in Keras). Unlike
Keras' read-only Fashion-MNIST arrays, they are writeable.

Where the files come from, first match wins (<folder> is "fashion-mnist" or "cifar-10"):
1. $DLCOURSE_DATA_DIR/<folder>/ (a relative path is taken from the project root, or from the
   current folder where dlcourse is installed);
2. DATA_HOME/<folder>/;
3. a download from the official mirrors into DATA_HOME/<folder>/.

DATA_HOME is the checkout's datasets/ when dlcourse sits in a checkout of the course (course.toml
beside the dlcourse/ folder, as with `make` or `pip install -e .`). When dlcourse is installed
as a package (`pip install .`, as on Google Colab) it is a per-user cache instead, never a
folder inside site-packages: $XDG_CACHE_HOME/dlcourse, by default ~/.cache/dlcourse.

Every load is verified by content: the SHA-256 of each decoded array (array_digest) must
equal the digest kept below, next to the URLs. A re-compressed but identical file passes;
a corrupt, truncated or different file raises DatasetError naming the file and the fix.
A verified copy of the decoded arrays is kept as .npy files in <folder>/cache/ when that
folder is writable (and not made read-only with chmod a-w); later loads read it, check it
again, and are several times faster.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dlcourse import _download, _formats

__all__ = [
    "CIFAR10",
    "CIFAR10_CLASSES",
    "CIFAR10_MIRRORS",
    "DATA_DIR_ENV",
    "DATA_HOME",
    "FASHION_MNIST",
    "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_MIRRORS",
    "DatasetError",
    "DatasetSpec",
    "array_digest",
    "data_dirs",
    "load_cifar10",
    "load_dataset",
    "load_fashion_mnist",
]

DATA_DIR_ENV = "DLCOURSE_DATA_DIR"
CACHE_FOLDER = "cache"

Split = tuple[np.ndarray, np.ndarray]

ARRAY_NAMES = {
    "x_train": "training images",
    "y_train": "training labels",
    "x_test": "test images",
    "y_test": "test labels",
}

FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)


def _checkout_root() -> Path | None:
    """The course checkout this package sits in (course.toml beside dlcourse/), else None."""
    root = Path(__file__).resolve().parents[1]
    return root if (root / "course.toml").is_file() else None


def _user_cache() -> Path:
    """Where an installed dlcourse keeps the data: $XDG_CACHE_HOME/dlcourse or ~/.cache/dlcourse.

    A relative $XDG_CACHE_HOME is ignored, as the XDG specification says. Without a home
    folder (some sandboxes and containers) the system's temporary folder is used.
    """
    base = os.environ.get("XDG_CACHE_HOME", "").strip()
    if not os.path.isabs(base):
        home = os.path.expanduser("~")  # returns "~" itself when no home can be determined
        base = os.path.join(home, ".cache") if os.path.isabs(home) else tempfile.gettempdir()
    return Path(base) / "dlcourse"


PROJECT_ROOT = _checkout_root()  # None where dlcourse is installed as a package
DATA_HOME = PROJECT_ROOT / "datasets" if PROJECT_ROOT is not None else _user_cache()


class DatasetError(Exception):
    """A dataset is missing, or one of its files is corrupt, truncated or not the official one."""


@dataclass(frozen=True)
class DatasetSpec:
    """What the loader needs to find, fetch and verify one dataset.

    Attributes:
    - name: the name used in messages, e.g. "Fashion-MNIST".
    - folder: the sub-folder of a data directory that holds the files, e.g. "fashion-mnist".
    - format: "idx" (one gzipped IDX file per array) or "cifar" (a python-batches archive,
      or its extracted cifar-10-batches-py/ folder).
    - files: canonical file name -> names of the arrays it holds ("x_train", ...).
    - mirrors: base URLs tried in order; a file's URL is the base followed by its name.
    - file_sha256: file name -> SHA-256 of the official file. A download with this checksum
      is accepted as it is; any other file is judged by its content.
    - content_sha256: array name -> array_digest of the decoded array (channels-first for
      CIFAR, as stored in the batches). The source of truth.
    """

    name: str
    folder: str
    format: str
    files: Mapping[str, tuple[str, ...]]
    mirrors: tuple[str, ...]
    file_sha256: Mapping[str, str]
    content_sha256: Mapping[str, str]


FASHION_MNIST_MIRRORS = (
    "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",  # Keras' own mirror, HTTPS
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",  # Zalando's (HTTP only)
)
FASHION_MNIST = DatasetSpec(
    name="Fashion-MNIST",
    folder="fashion-mnist",
    format="idx",
    files={
        "train-images-idx3-ubyte.gz": ("x_train",),
        "train-labels-idx1-ubyte.gz": ("y_train",),
        "t10k-images-idx3-ubyte.gz": ("x_test",),
        "t10k-labels-idx1-ubyte.gz": ("y_test",),
    },
    mirrors=FASHION_MNIST_MIRRORS,
    file_sha256={
        "train-images-idx3-ubyte.gz": (
            "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"
        ),
        "train-labels-idx1-ubyte.gz": (
            "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"
        ),
        "t10k-images-idx3-ubyte.gz": (
            "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"
        ),
        "t10k-labels-idx1-ubyte.gz": (
            "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"
        ),
    },
    content_sha256={
        "x_train": "63a8360a3dc9da21e3abbee0bae0dc6f0c39455f1c28f56dfea3b370ed38cd99",
        "y_train": "43329d34773cfdf2c96a8e21186c916af666db57784c9a94f555cf464bda1b1a",
        "x_test": "f9680125d0d4f308d397c5cb1a6350ca44e98db31b4614fadc4155a837510d16",
        "y_test": "836ffbedffb388bf8ba84a1bfd7562b917ed2f5c05dfc08e5e82339eab9625ec",
    },
)

CIFAR10_MIRRORS = ("https://www.cs.toronto.edu/~kriz/",)
CIFAR10 = DatasetSpec(
    name="CIFAR-10",
    folder="cifar-10",
    format="cifar",
    files={"cifar-10-python.tar.gz": ("x_train", "y_train", "x_test", "y_test")},
    mirrors=CIFAR10_MIRRORS,
    file_sha256={
        "cifar-10-python.tar.gz": (
            "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"
        ),
    },
    content_sha256={
        "x_train": "02d0044628fe54084c8ae89587241aa48a7fc1c09734d1e3c7d31db17567d7c0",
        "y_train": "ca779cfafccdf658020a1426fb4005f6eb305c6f038584df034b51d1b3eda57f",
        "x_test": "6146e152e6f2c3ebf5a21873c6e1836fc3f4ae71724aed16572417b5e60b238d",
        "y_test": "9ea714f3edef706145ee82ecc9b26079496a6c0726a3d77e6f65948e96205884",
    },
)


# --------------------------------------------------------------------------- public API


def load_fashion_mnist(
    *, download: bool = True, mirrors: Sequence[str] | None = None, cache: bool = True
) -> tuple[Split, Split]:
    """Load Fashion-MNIST exactly as keras.datasets.fashion_mnist.load_data() does.

    Inputs:
    - download: fetch missing files into DATA_HOME (False: raise DatasetError instead).
    - mirrors: base URLs to download from instead of FASHION_MNIST_MIRRORS.
    - cache: read and write the verified .npy cache (see the module docstring).

    Returns:
    - (x_train, y_train), (x_test, y_test): x_train (60000, 28, 28) uint8, y_train (60000,)
      uint8, x_test (10000, 28, 28) uint8, y_test (10000,) uint8; labels index
      FASHION_MNIST_CLASSES.

    Raises DatasetError if the data is missing and cannot be downloaded, or fails verification.
    """
    return load_dataset(FASHION_MNIST, download=download, mirrors=mirrors, cache=cache)


def load_cifar10(
    *, download: bool = True, mirrors: Sequence[str] | None = None, cache: bool = True
) -> tuple[Split, Split]:
    """Load CIFAR-10 exactly as keras.datasets.cifar10.load_data() does (channels-last).

    Inputs:
    - download: fetch the archive into DATA_HOME if missing (False: raise DatasetError).
    - mirrors: base URLs to download from instead of CIFAR10_MIRRORS.
    - cache: read and write the verified .npy cache (see the module docstring).

    Returns:
    - (x_train, y_train), (x_test, y_test): x_train (50000, 32, 32, 3) uint8, y_train
      (50000, 1) uint8, x_test (10000, 32, 32, 3) uint8, y_test (10000, 1) uint8; labels
      index CIFAR10_CLASSES.

    Raises DatasetError if the data is missing and cannot be downloaded, or fails verification.
    """
    return load_dataset(CIFAR10, download=download, mirrors=mirrors, cache=cache)


def load_dataset(
    spec: DatasetSpec,
    *,
    search_dirs: Sequence[str | Path] | None = None,
    download_dir: str | Path | None = None,
    download: bool = True,
    mirrors: Sequence[str] | None = None,
    cache: bool = True,
    timeout: float = _download.TIMEOUT_S,
    retries: int = _download.RETRIES,
    progress: bool = True,
) -> tuple[Split, Split]:
    """Find, verify and decode the dataset `spec` describes; download it if needed.

    Inputs:
    - spec: the dataset (FASHION_MNIST, CIFAR10, or a spec built by a test).
    - search_dirs: data directories to look in, in order (default: data_dirs()).
    - download_dir: where a download goes (default: DATA_HOME, see the module docstring).
    - download, mirrors, cache: as in load_fashion_mnist.
    - timeout: seconds without data before a download attempt is given up.
    - retries: download attempts per mirror for transient errors.
    - progress: show a progress bar while downloading.

    Returns:
    - (x_train, y_train), (x_test, y_test) in Keras' layout for spec.format.

    Raises DatasetError, whose message names the file or folders involved and the fix.
    """
    dirs = data_dirs() if search_dirs is None else [Path(d) for d in search_dirs]
    for root in dirs:
        arrays = _load_folder(spec, root / spec.folder, cache)
        if arrays is not None:
            return _keras_layout(spec, arrays)
    target = (DATA_HOME if download_dir is None else Path(download_dir)) / spec.folder
    failure = None
    if download:
        try:
            _download_missing(spec, target, mirrors or spec.mirrors, timeout, retries, progress)
        except OSError as error:  # DownloadError, or the folder cannot be created
            failure = error
        else:
            arrays = _load_folder(spec, target, cache)
            if arrays is not None:
                return _keras_layout(spec, arrays)
    raise DatasetError(_not_found_message(spec, dirs, target, download, failure))


def data_dirs() -> list[Path]:
    """The data directories searched, in order: $DLCOURSE_DATA_DIR if set, then DATA_HOME.

    A relative $DLCOURSE_DATA_DIR is taken from the project root, so notebooks in
    sub-folders find the same data as the command line; where dlcourse is installed (no
    project root), from the current folder.
    """
    dirs = []
    value = os.environ.get(DATA_DIR_ENV, "").strip()
    if value:
        path = Path(value).expanduser()
        base = PROJECT_ROOT if PROJECT_ROOT is not None else Path.cwd()
        dirs.append(path if path.is_absolute() else base / path)
    if DATA_HOME not in dirs:
        dirs.append(DATA_HOME)
    return dirs


def array_digest(array: np.ndarray) -> str:
    """The content digest of an array: SHA-256 of its dtype, shape and C-order bytes.

    Inputs:
    - array: any NumPy array (not modified).

    Returns:
    - hex SHA-256 of the text f"{array.dtype.str} {array.shape}\\n" (for example
      "|u1 (60000, 28, 28)\\n") followed by the array's bytes in C order.
    """
    digest = hashlib.sha256(f"{array.dtype.str} {array.shape}\n".encode())
    digest.update(np.ascontiguousarray(array))
    return digest.hexdigest()


# --------------------------------------------------------------------------- one folder


def _load_folder(spec: DatasetSpec, folder: Path, cache: bool) -> dict[str, np.ndarray] | None:
    """Verified arrays from `folder` (cache first), or None if it lacks the dataset."""
    if cache:
        arrays = _read_cache(spec, folder)
        if arrays is not None:
            return arrays
    sources = _sources(spec, folder)
    if sources is None:
        return None
    arrays = {}
    for path in sources:
        arrays.update(_decode_verified(spec, path))
    if cache:
        _write_cache(spec, folder, arrays)
    return arrays


def _sources(spec: DatasetSpec, folder: Path) -> list[Path] | None:
    """The paths to decode in `folder`, or None if it does not hold the whole dataset.

    For CIFAR a complete extracted cifar-10-batches-py/ is preferred to the archive: it
    is read several times faster.
    """
    if spec.format == "cifar":
        extracted = folder / _formats.CIFAR_FOLDER
        names = (*_formats.CIFAR_TRAIN_BATCHES, _formats.CIFAR_TEST_BATCH)
        if all((extracted / name).is_file() for name in names):
            return [extracted]
    paths = [folder / name for name in spec.files]
    return paths if all(path.is_file() for path in paths) else None


def _decode(spec: DatasetSpec, path: Path, name: str) -> dict[str, np.ndarray]:
    """Decode one source (file `name` of the spec, stored at `path`) into raw arrays."""
    if spec.format == "idx":
        (key,) = spec.files[name]
        return {key: _formats.read_idx_gz(path)}
    if spec.format == "cifar":
        if path.is_dir():
            return _formats.read_cifar_folder(path)
        return _formats.read_cifar_archive(path)
    raise ValueError(f"unknown dataset format {spec.format!r} in the spec of {spec.name}")


def _decode_verified(spec: DatasetSpec, path: Path) -> dict[str, np.ndarray]:
    """Decode `path` and check every array's content digest; DatasetError if anything is off."""
    try:
        arrays = _decode(spec, path, path.name)
    except (_formats.FormatError, OSError) as error:
        raise DatasetError(
            f"{path} cannot be read as {spec.name}: {error}.\n{_fix_hint(spec, path)}"
        ) from None
    for key, array in arrays.items():
        found, expected = array_digest(array), spec.content_sha256[key]
        if found != expected:
            raise DatasetError(_mismatch_message(spec, path, key, expected, found))
    return arrays


def _keras_layout(spec: DatasetSpec, arrays: Mapping[str, np.ndarray]) -> tuple[Split, Split]:
    """Arrange raw arrays as Keras returns them (CIFAR: channels-last view, labels (N, 1))."""
    x_train, y_train = arrays["x_train"], arrays["y_train"]
    x_test, y_test = arrays["x_test"], arrays["y_test"]
    if spec.format == "cifar":
        x_train, x_test = x_train.transpose(0, 2, 3, 1), x_test.transpose(0, 2, 3, 1)
        y_train, y_test = y_train.reshape(-1, 1), y_test.reshape(-1, 1)
    return (x_train, y_train), (x_test, y_test)


# --------------------------------------------------------------------------- cache


def _cache_paths(spec: DatasetSpec, folder: Path) -> dict[str, Path]:
    """Where the cached copy of each array lives."""
    return {key: folder / CACHE_FOLDER / f"{key}.npy" for key in spec.content_sha256}


def _read_cache(spec: DatasetSpec, folder: Path) -> dict[str, np.ndarray] | None:
    """The cached arrays if all are present and pass their content digest, else None."""
    paths = _cache_paths(spec, folder)
    if not all(path.is_file() for path in paths.values()):
        return None
    arrays = {}
    for key, path in paths.items():
        try:
            array = np.load(path, allow_pickle=False)
        except Exception:  # unreadable or truncated: the cache is rebuilt from the sources
            return None
        if array_digest(array) != spec.content_sha256[key]:
            return None
        arrays[key] = array
    return arrays


def _write_cache(spec: DatasetSpec, folder: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """Save verified arrays to the cache; skipped silently where the folder is read-only."""
    if not _writable(folder) or not _writable(folder / CACHE_FOLDER, missing_ok=True):
        return
    try:
        (folder / CACHE_FOLDER).mkdir(exist_ok=True)
        for key, path in _cache_paths(spec, folder).items():
            _save_atomic(path, arrays[key])
    except OSError:  # a full disk or a permission problem costs speed, never a load
        return


def _writable(folder: Path, missing_ok: bool = False) -> bool:
    """Whether we may write in `folder`: permitted, and not marked read-only by its mode.

    The mode check matters for root (as in containers and CI), whom os.access always
    allows: a shared data folder made read-only with chmod a-w must stay untouched.
    """
    try:
        mode = folder.stat().st_mode
    except FileNotFoundError:
        return missing_ok
    except OSError:
        return False
    return bool(mode & 0o222) and os.access(folder, os.W_OK)


def _save_atomic(path: Path, array: np.ndarray) -> None:
    """np.save to a temporary file beside `path`, then rename it onto `path`."""
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(handle, "wb") as out:
            np.save(out, array, allow_pickle=False)
        os.replace(name, path)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise


# --------------------------------------------------------------------------- download


def _download_missing(
    spec: DatasetSpec,
    folder: Path,
    mirrors: Sequence[str],
    timeout: float,
    retries: int,
    progress: bool,
) -> None:
    """Download the spec's files that `folder` lacks, each verified and written atomically."""
    folder.mkdir(parents=True, exist_ok=True)
    if _sources(spec, folder) is not None:
        return
    for name in spec.files:
        if (folder / name).is_file():
            continue
        urls = [base + ("" if base.endswith("/") else "/") + name for base in mirrors]
        _download.fetch(
            urls,
            folder / name,
            _download_verifier(spec, name),
            timeout=timeout,
            retries=retries,
            progress=progress,
        )


def _download_verifier(spec: DatasetSpec, name: str) -> _download.Verifier:
    """A check for a downloaded copy of file `name`: the official checksum, or its content."""

    def verify(path: Path, file_sha256: str) -> None:
        if spec.file_sha256.get(name) == file_sha256:
            return
        arrays = _decode(spec, path, name)  # FormatError is a ValueError: next mirror
        for key, array in arrays.items():
            found, expected = array_digest(array), spec.content_sha256[key]
            if found != expected:
                raise ValueError(
                    f"checksum mismatch: the file's SHA-256 {file_sha256} is not the official "
                    f"one ({spec.file_sha256.get(name, 'none recorded')}) and its decoded "
                    f"{ARRAY_NAMES.get(key, key)} have content SHA-256 {found}, "
                    f"expected {expected}"
                )

    return verify


# --------------------------------------------------------------------------- messages


def _fix_hint(spec: DatasetSpec, path: Path) -> str:
    """How to replace a bad file."""
    return (
        f"To fix: delete {path} and load again to download a fresh copy, or set "
        f"{DATA_DIR_ENV} to a folder whose {spec.folder}/ holds good copies "
        "(see datasets/README.md for sources and checksums)."
    )


def _mismatch_message(spec: DatasetSpec, path: Path, key: str, expected: str, found: str) -> str:
    """The message for a file whose decoded content is not the official dataset."""
    what = ARRAY_NAMES.get(key, key)
    if path.is_dir():  # an extracted CIFAR folder: say which batch files hold the array
        origin = "test_batch" if key.endswith("_test") else "data_batch_1 to data_batch_5"
        what = f"{what} (from {origin})"
    return (
        f"{path} failed verification: its decoded {what} have content SHA-256\n"
        f"  found:    {found}\n"
        f"  expected: {expected} (the official {spec.name})\n"
        f"The file is corrupt, truncated or not the official one.\n{_fix_hint(spec, path)}"
    )


def _not_found_message(
    spec: DatasetSpec,
    dirs: Sequence[Path],
    target: Path,
    download: bool,
    failure: OSError | None,
) -> str:
    """The message for a dataset found nowhere: where we looked and how to provide it."""
    wanted = ", ".join(spec.files)
    if spec.format == "cifar":
        wanted += f" (or the extracted {_formats.CIFAR_FOLDER}/)"
    lines = [f"{spec.name} is not available. Looked for {wanted} in:"]
    if not os.environ.get(DATA_DIR_ENV, "").strip():
        lines.append(f"  - ${DATA_DIR_ENV}: not set")
    for root in dirs:
        folder = root / spec.folder
        missing = [name for name in spec.files if not (folder / name).is_file()]
        lines.append(
            f"  - {folder}: {'missing ' + ', '.join(missing) if missing else 'incomplete'}"
        )
    if not download:
        lines.append("Downloading is turned off (download=False).")
    elif isinstance(failure, _download.DownloadError):
        lines.append(f"Downloading into {target} failed:")
        lines.extend(f"  - {attempt}" for attempt in failure.attempts)
    elif failure is not None:
        lines.append(f"Downloading into {target} failed: {failure}")
    lines += [
        "To fix, do one of:",
        f"  - copy the files into {target}/ (datasets/README.md lists sources and checksums);",
        f"  - set {DATA_DIR_ENV} to a folder that holds {spec.folder}/ with these files "
        f"(a relative path is taken from {_relative_base_name()}).",
    ]
    return "\n".join(lines)


def _relative_base_name() -> str:
    """What a relative $DLCOURSE_DATA_DIR is taken from, in words."""
    return "the project root" if PROJECT_ROOT is not None else "the current folder"
