"""dlcourse.data against Keras' own loaders on the real files from $DLCOURSE_DATA_DIR.

Keras reads its files from $KERAS_HOME/datasets/; the tests point a temporary KERAS_HOME at
symbolic links to the real files (nothing is copied). For CIFAR-10, whose local archive is
not byte-identical to the one Keras pins, Keras' load_data() runs on the extracted batches
(its get_file is replaced by the extraction folder). Arrays must be equal in shape, dtype,
values and memory layout. Since our loader verifies every array against the content
digests kept in dlcourse.data, equality also proves those digests are Keras' arrays'.
The real data folder is only read: caches go to tmp_path.
"""

import tarfile
from pathlib import Path

import numpy as np
import pytest

from dlcourse import data

keras = pytest.importorskip("keras")


def assert_like_keras(ours, theirs):
    """Same nesting, shapes, dtypes, strides and values."""
    (ours_train, ours_test), (keras_train, keras_test) = ours, theirs
    for got, want in zip((*ours_train, *ours_test), (*keras_train, *keras_test), strict=True):
        assert (got.shape, got.dtype, got.strides) == (want.shape, want.dtype, want.strides)
        np.testing.assert_array_equal(got, want)


@pytest.fixture
def keras_home(tmp_path, monkeypatch):
    """A temporary KERAS_HOME; Keras reads it at import, so its module value is patched too."""
    home = tmp_path / "keras_home"
    home.mkdir()
    monkeypatch.setenv("KERAS_HOME", str(home))
    from keras.src.backend import config

    monkeypatch.setattr(config, "_KERAS_DIR", str(home))
    return home


def link_files(source: Path, target: Path) -> Path:
    """Symbolic links in `target` to every file in `source`; return `target`."""
    target.mkdir(parents=True, exist_ok=True)
    for path in source.iterdir():
        (target / path.name).symlink_to(path)
    return target


def test_fashion_mnist_equals_keras(real_data_dir, keras_home, tmp_path, monkeypatch):
    """Does load_fashion_mnist() return exactly what keras.datasets.fashion_mnist does, from
    the source files and from its cache?"""
    link_files(real_data_dir / "fashion-mnist", keras_home / "datasets" / "fashion-mnist")
    theirs = keras.datasets.fashion_mnist.load_data()

    monkeypatch.setattr(data, "DATA_HOME", tmp_path / "unused")
    monkeypatch.setenv(data.DATA_DIR_ENV, str(real_data_dir))
    assert_like_keras(data.load_fashion_mnist(download=False, cache=False), theirs)

    local = tmp_path / "local"
    link_files(real_data_dir / "fashion-mnist", local / "fashion-mnist")
    for _ in range(2):  # decode and write the cache, then read the cache
        ours = data.load_dataset(data.FASHION_MNIST, search_dirs=[local], download=False)
        assert_like_keras(ours, theirs)
    assert (local / "fashion-mnist" / data.CACHE_FOLDER / "x_train.npy").is_file()


@pytest.mark.slow  # about 10 s: extracting 180 MB and decoding CIFAR-10 four times
def test_cifar10_equals_keras(real_data_dir, tmp_path, monkeypatch):
    """Does load_cifar10() return exactly what keras.datasets.cifar10 does, from the archive,
    from the extracted folder and from its cache?"""
    local = tmp_path / "local"
    with tarfile.open(real_data_dir / "cifar-10" / "cifar-10-python.tar.gz") as archive:
        archive.extractall(local / "cifar-10", filter="data")
    from keras.src.datasets import cifar10

    monkeypatch.setattr(cifar10, "get_file", lambda *args, **kwargs: str(local / "cifar-10"))
    theirs = keras.datasets.cifar10.load_data()

    monkeypatch.setattr(data, "DATA_HOME", tmp_path / "unused")
    monkeypatch.setenv(data.DATA_DIR_ENV, str(real_data_dir))
    assert_like_keras(data.load_cifar10(download=False, cache=False), theirs)

    for _ in range(2):  # the extracted folder (writing the cache), then the cache
        ours = data.load_dataset(data.CIFAR10, search_dirs=[local], download=False)
        assert_like_keras(ours, theirs)
    assert (local / "cifar-10" / data.CACHE_FOLDER / "x_train.npy").is_file()
