"""dlcourse.data on tiny synthetic files: decoding, verification, error messages, search order
and the cache. No network, no TensorFlow; the whole file runs in a few seconds."""

import gzip
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dlcourse import data
from dlcourse.data import DatasetError


def load(spec, root, **kwargs):
    """Load `spec` from `root` only, without downloads or cache unless asked."""
    kwargs.setdefault("cache", False)
    return data.load_dataset(spec, search_dirs=[root], download=False, **kwargs)


def assert_same(got, want):
    """Equal shapes, dtypes and values, array by array."""
    for g, w in zip(got, want, strict=True):
        assert g.shape == w.shape and g.dtype == w.dtype, (g.shape, g.dtype, w.shape, w.dtype)
        np.testing.assert_array_equal(g, w)


def assert_error_names(excinfo, path: Path, *words: str):
    """The DatasetError names the file, hides the low-level traceback, says the words."""
    message = str(excinfo.value)
    assert str(path) in message, message
    for word in words:
        assert word in message, f"{word!r} not in:\n{message}"
    error = excinfo.value
    assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)


# ------------------------------------------------------------------------- Fashion (IDX)


def test_fashion_files_decode_to_keras_shapes_and_order(synthetic_data, tmp_path):
    """Do tiny IDX files load as ((x_train, y_train), (x_test, y_test)) in file order?"""
    synthetic_data.write_fashion(tmp_path)
    (x_train, y_train), (x_test, y_test) = load(synthetic_data.fashion_spec, tmp_path)
    a = synthetic_data.fashion_arrays
    assert_same(
        [x_train, y_train, x_test, y_test], [a["x_train"], a["y_train"], a["x_test"], a["y_test"]]
    )
    assert x_train.flags.c_contiguous and x_train.flags.writeable


def test_recompressed_identical_file_passes(synthetic_data, tmp_path):
    """Does a re-compressed (other level, other mtime) but identical file pass verification?"""
    folder = synthetic_data.write_fashion(tmp_path)
    name = "train-images-idx3-ubyte.gz"
    content = gzip.decompress(synthetic_data.fashion[name])
    (folder / name).write_bytes(gzip.compress(content, compresslevel=1, mtime=123456))
    (x_train, _), _ = load(synthetic_data.fashion_spec, tmp_path)
    np.testing.assert_array_equal(x_train, synthetic_data.fashion_arrays["x_train"])


def test_multi_member_gzip_decodes(synthetic_data, tmp_path):
    """Does a gzip file made of two concatenated members decode like gzip does?"""
    folder = synthetic_data.write_fashion(tmp_path)
    name = "train-images-idx3-ubyte.gz"
    content = gzip.decompress(synthetic_data.fashion[name])
    (folder / name).write_bytes(gzip.compress(content[:1000]) + gzip.compress(content[1000:]))
    (x_train, _), _ = load(synthetic_data.fashion_spec, tmp_path)
    np.testing.assert_array_equal(x_train, synthetic_data.fashion_arrays["x_train"])


def test_truncated_label_file_names_it(synthetic_data, tmp_path):
    """Does a truncated label file raise an error naming it?"""
    folder = synthetic_data.write_fashion(tmp_path)
    path = folder / "train-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-12])
    with pytest.raises(DatasetError) as excinfo:
        load(synthetic_data.fashion_spec, tmp_path)
    assert_error_names(excinfo, path, "truncated", "delete", data.DATA_DIR_ENV)


def test_corrupt_image_file_names_it(synthetic_data, tmp_path):
    """Does a corrupt image file (bytes flipped inside the deflate stream) raise an error
    naming it, instead of a zlib traceback?"""
    folder = synthetic_data.write_fashion(tmp_path)
    path = folder / "t10k-images-idx3-ubyte.gz"
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    path.write_bytes(bytes(blob))
    with pytest.raises(DatasetError) as excinfo:
        load(synthetic_data.fashion_spec, tmp_path)
    assert_error_names(excinfo, path, "corrupt", "delete")


def test_file_that_is_not_gzip_names_it(synthetic_data, tmp_path):
    """Does an uncompressed file under a .gz name raise an error naming it?"""
    folder = synthetic_data.write_fashion(tmp_path)
    path = folder / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(gzip.decompress(path.read_bytes()))
    with pytest.raises(DatasetError) as excinfo:
        load(synthetic_data.fashion_spec, tmp_path)
    assert_error_names(excinfo, path, "gzip")


def test_idx_header_announcing_more_items_is_truncation(synthetic_data, tmp_path):
    """Does a valid gzip whose IDX header announces more items than it holds raise an error
    naming the file and both counts?"""
    folder = synthetic_data.write_fashion(tmp_path)
    path = folder / "train-labels-idx1-ubyte.gz"
    labels = synthetic_data.fashion_arrays["y_train"]
    header = bytes([0, 0, 8, 1]) + (len(labels) + 5).to_bytes(4, "big")
    path.write_bytes(gzip.compress(header + labels.tobytes()))
    with pytest.raises(DatasetError) as excinfo:
        load(synthetic_data.fashion_spec, tmp_path)
    assert_error_names(excinfo, path, "truncated", f"{len(labels) + 5:,}", f"{len(labels):,}")


def test_different_content_fails_with_expected_and_found(synthetic_data, tmp_path):
    """Does a valid file with other pixels fail verification, with the expected digest, the
    digest found, and the fix?"""
    folder = synthetic_data.write_fashion(tmp_path)
    path = folder / "train-images-idx3-ubyte.gz"
    other = synthetic_data.fashion_arrays["x_train"].copy()
    other[0, 0, 0] ^= 1
    header = bytes([0, 0, 8, 3]) + b"".join(d.to_bytes(4, "big") for d in other.shape)
    path.write_bytes(gzip.compress(header + other.tobytes()))
    with pytest.raises(DatasetError) as excinfo:
        load(synthetic_data.fashion_spec, tmp_path)
    expected = synthetic_data.fashion_spec.content_sha256["x_train"]
    assert_error_names(
        excinfo, path, expected, data.array_digest(other), "training images", "delete"
    )


def test_real_spec_rejects_synthetic_files(synthetic_data, tmp_path):
    """Does the real Fashion-MNIST spec reject files that only the test spec accepts?"""
    folder = synthetic_data.write_fashion(tmp_path)
    with pytest.raises(DatasetError) as excinfo:
        load(data.FASHION_MNIST, tmp_path)
    assert str(folder) in str(excinfo.value) and "failed verification" in str(excinfo.value)


# ------------------------------------------------------------------------- CIFAR


def keras_cifar_layout(arrays):
    """What Keras returns for raw CIFAR arrays: channels-last views, labels (N, 1)."""
    return [
        arrays["x_train"].transpose(0, 2, 3, 1),
        arrays["y_train"].reshape(-1, 1),
        arrays["x_test"].transpose(0, 2, 3, 1),
        arrays["y_test"].reshape(-1, 1),
    ]


@pytest.mark.parametrize("source", ["archive", "folder"])
def test_cifar_decodes_to_keras_layout(synthetic_data, tmp_path, source):
    """Do a tiny CIFAR archive and an extracted folder both load channels-last, with labels
    (N, 1) and Keras' memory layout?"""
    if source == "archive":
        synthetic_data.write_cifar_archive(tmp_path)
    else:
        synthetic_data.write_cifar_folder(tmp_path)
    (x_train, y_train), (x_test, y_test) = load(synthetic_data.cifar_spec, tmp_path)
    want = keras_cifar_layout(synthetic_data.cifar_arrays)
    assert_same([x_train, y_train, x_test, y_test], want)
    assert x_train.shape == (10, 32, 32, 3) and y_train.shape == (10, 1)
    assert x_train.strides == want[0].strides == (3072, 32, 1, 1024)


def test_extracted_folder_is_preferred_to_archive(synthetic_data, tmp_path):
    """Is a complete extracted folder read instead of the (here broken) archive?"""
    synthetic_data.write_cifar_folder(tmp_path)
    synthetic_data.write_cifar_archive(tmp_path).write_bytes(b"not an archive")
    (x_train, _), _ = load(synthetic_data.cifar_spec, tmp_path)
    np.testing.assert_array_equal(x_train, keras_cifar_layout(synthetic_data.cifar_arrays)[0])


def test_truncated_cifar_archive_names_it(synthetic_data, tmp_path):
    """Does a truncated CIFAR archive raise an error naming it?"""
    path = synthetic_data.write_cifar_archive(tmp_path)
    path.write_bytes(synthetic_data.cifar_archive[: len(synthetic_data.cifar_archive) // 2])
    with pytest.raises(DatasetError) as excinfo:
        load(synthetic_data.cifar_spec, tmp_path)
    assert_error_names(excinfo, path, "truncated", "delete")


def test_truncated_batch_file_names_folder_and_batch(synthetic_data, tmp_path):
    """Does a truncated batch in an extracted folder raise an error naming the batch?"""
    folder = synthetic_data.write_cifar_folder(tmp_path)
    path = folder / "data_batch_3"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DatasetError) as excinfo:
        load(synthetic_data.cifar_spec, tmp_path)
    assert_error_names(excinfo, folder, "data_batch_3", "truncated or corrupt")


def test_archive_without_test_batch_names_the_member(synthetic_data, tmp_path):
    """Does an archive that lacks test_batch say which member is missing?"""
    members = {k: v for k, v in synthetic_data.cifar_batches.items() if k != "test_batch"}
    path = synthetic_data.write_cifar_archive(tmp_path)
    path.write_bytes(synthetic_data.tar_gz(members))
    with pytest.raises(DatasetError) as excinfo:
        load(synthetic_data.cifar_spec, tmp_path)
    assert_error_names(excinfo, path, "cifar-10-batches-py/test_batch")


class _Payload:
    """Unpickling this runs `touch <marker>`: what a malicious batch file would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_batch_file_is_refused_without_running(synthetic_data, tmp_path):
    """Is a batch pickle that calls os.system refused, without running the command?"""
    folder = synthetic_data.write_cifar_folder(tmp_path)
    marker = tmp_path / "pwned"
    (folder / "data_batch_1").write_bytes(pickle.dumps({b"data": _Payload(marker)}, protocol=4))
    with pytest.raises(DatasetError) as excinfo:
        load(synthetic_data.cifar_spec, tmp_path)
    assert_error_names(excinfo, folder, "data_batch_1", "refused", "system")
    assert not marker.exists()


def test_batch_with_wrong_data_shape_is_explained(synthetic_data, tmp_path):
    """Does a batch whose b'data' is not (n, 3072) uint8 say what it found?"""
    folder = synthetic_data.write_cifar_folder(tmp_path)
    bad = {b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}
    (folder / "test_batch").write_bytes(pickle.dumps(bad, protocol=4))
    with pytest.raises(DatasetError) as excinfo:
        load(synthetic_data.cifar_spec, tmp_path)
    assert_error_names(excinfo, folder, "test_batch", "(2, 100)", "3072")


# ------------------------------------------------------------------------- search order


def test_data_dir_env_wins_over_datasets_folder(synthetic_data, data_home, tmp_path, monkeypatch):
    """Does $DLCOURSE_DATA_DIR win over datasets/ (whose copy here is corrupt)?"""
    env_dir = tmp_path / "env"
    synthetic_data.write_fashion(env_dir)
    bad = synthetic_data.write_fashion(data_home) / "train-images-idx3-ubyte.gz"
    bad.write_bytes(b"garbage")
    monkeypatch.setenv(data.DATA_DIR_ENV, str(env_dir))
    result = data.load_dataset(synthetic_data.fashion_spec, download=False, cache=False)
    np.testing.assert_array_equal(result[0][0], synthetic_data.fashion_arrays["x_train"])
    monkeypatch.delenv(data.DATA_DIR_ENV)
    with pytest.raises(DatasetError, match="garbage|gzip"):
        data.load_dataset(synthetic_data.fashion_spec, download=False, cache=False)


def test_empty_data_dir_env_falls_back_to_datasets(
    synthetic_data, data_home, tmp_path, monkeypatch
):
    """Does a $DLCOURSE_DATA_DIR without the dataset fall back to datasets/?"""
    monkeypatch.setenv(data.DATA_DIR_ENV, str(tmp_path / "empty"))
    synthetic_data.write_fashion(data_home)
    result = data.load_dataset(synthetic_data.fashion_spec, download=False, cache=False)
    np.testing.assert_array_equal(result[1][1], synthetic_data.fashion_arrays["y_test"])


def test_relative_data_dir_env_is_taken_from_project_root(monkeypatch, tmp_path):
    """Is a relative $DLCOURSE_DATA_DIR resolved against the project root, not the cwd?"""
    monkeypatch.setenv(data.DATA_DIR_ENV, "../shared/datasets")
    monkeypatch.chdir(tmp_path)
    assert data.data_dirs() == [data.PROJECT_ROOT / "../shared/datasets", data.DATA_HOME]


def test_missing_data_says_where_it_looked_and_both_fixes(synthetic_data, data_home):
    """Without files and downloads, does the error list where it looked and both ways to
    provide the data?"""
    with pytest.raises(DatasetError) as excinfo:
        data.load_dataset(synthetic_data.cifar_spec, download=False)
    message = str(excinfo.value)
    for text in [
        "$DLCOURSE_DATA_DIR: not set",
        str(data_home / "cifar-10"),
        "missing cifar-10-python.tar.gz",
        "cifar-10-batches-py/",
        "download=False",
        "copy the files into",
        "set DLCOURSE_DATA_DIR",
    ]:
        assert text in message, f"{text!r} not in:\n{message}"


# ------------------------------------------------------------------------- cache


def cache_files(folder: Path) -> list[str]:
    return sorted(p.name for p in (folder / data.CACHE_FOLDER).glob("*"))


def test_cache_is_written_verified_and_used(synthetic_data, tmp_path):
    """Is a verified cache written on the first load, and used on the next even when the
    source files have gone bad?"""
    folder = synthetic_data.write_fashion(tmp_path)
    first = load(synthetic_data.fashion_spec, tmp_path, cache=True)
    assert cache_files(folder) == ["x_test.npy", "x_train.npy", "y_test.npy", "y_train.npy"]
    (folder / "train-images-idx3-ubyte.gz").write_bytes(b"gone bad")
    second = load(synthetic_data.fashion_spec, tmp_path, cache=True)
    assert_same([*second[0], *second[1]], [*first[0], *first[1]])


def test_bad_cache_is_ignored_and_rebuilt(synthetic_data, tmp_path):
    """Is a tampered cache file ignored (the sources are decoded) and then rewritten?"""
    folder = synthetic_data.write_cifar_archive(tmp_path).parent
    load(synthetic_data.cifar_spec, tmp_path, cache=True)
    cached = folder / data.CACHE_FOLDER / "x_test.npy"
    np.save(cached, np.zeros((2, 3, 32, 32), np.uint8))
    (_, _), (x_test, _) = load(synthetic_data.cifar_spec, tmp_path, cache=True)
    np.testing.assert_array_equal(x_test, keras_cifar_layout(synthetic_data.cifar_arrays)[2])
    assert data.array_digest(np.load(cached)) == synthetic_data.cifar_spec.content_sha256["x_test"]


def test_no_cache_in_read_only_folder(synthetic_data, tmp_path):
    """Is nothing written into a folder marked read-only (chmod a-w), even as root?"""
    folder = synthetic_data.write_fashion(tmp_path)
    folder.chmod(0o555)
    try:
        load(synthetic_data.fashion_spec, tmp_path, cache=True)
        assert sorted(p.name for p in folder.iterdir()) == sorted(synthetic_data.fashion)
    finally:
        folder.chmod(0o755)


def test_cache_false_writes_nothing(synthetic_data, tmp_path):
    """Does cache=False leave the data folder as it was?"""
    folder = synthetic_data.write_fashion(tmp_path)
    load(synthetic_data.fashion_spec, tmp_path, cache=False)
    assert not (folder / data.CACHE_FOLDER).exists()


# ------------------------------------------------------------------------- module


def test_import_is_light():
    """Does importing dlcourse.data leave TensorFlow, Keras and tqdm unimported?"""
    code = (
        "import sys, dlcourse.data; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'tensorflow', 'keras', 'tqdm'}))"
    )
    root = Path(data.__file__).parents[1]
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=root, check=True
    )
    assert out.stdout.strip() == "[]"


def test_class_names():
    """Are there ten class names per dataset, in Keras' documented order?"""
    assert len(data.FASHION_MNIST_CLASSES) == len(data.CIFAR10_CLASSES) == 10
    assert data.FASHION_MNIST_CLASSES[0] == "T-shirt/top"
    assert data.FASHION_MNIST_CLASSES[9] == "Ankle boot"
    assert data.CIFAR10_CLASSES[0] == "airplane" and data.CIFAR10_CLASSES[9] == "truck"
