"""Fashion-MNIST as the grader prepares it, for the checks of 02_mlp_baseline and 03_fashion_cnn.

The grader preprocesses the data itself (for both sides: the worker's training tasks and the
trusted evaluation), so a bug in a student's `preprocess` never costs the training checks.
"""

from __future__ import annotations

import numpy as np

NUM_CLASSES = 10


def reference_preprocess(images: np.ndarray, labels: np.ndarray, *,
                         channels_last: bool) -> tuple[np.ndarray, np.ndarray]:
    """The grader's own preprocessing: float32 pixels in [0, 1] and float32 one-hot labels.

    channels_last=False gives (N, 784) (assignment 02), True gives (N, 28, 28, 1) (03).
    """
    images = np.asarray(images)
    shape = (len(images), 28, 28, 1) if channels_last else (len(images), 28 * 28)
    x = images.reshape(shape).astype(np.float32) / np.float32(255.0)
    y = np.eye(NUM_CLASSES, dtype=np.float32)[np.asarray(labels, dtype=np.int64)]
    return x, y


def load_split(split: str, *, channels_last: bool,
               limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Fashion-MNIST `split` ("train" or "test") through the reference preprocessing."""
    from dlcourse.data import load_fashion_mnist

    (x_train, y_train), (x_test, y_test) = load_fashion_mnist()
    images, labels = (x_train, y_train) if split == "train" else (x_test, y_test)
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    return reference_preprocess(images, labels, channels_last=channels_last)
