"""Small matplotlib helpers for the course notebooks.

Every plotting function builds a new figure and returns it; none calls ``plt.show()``.
In a notebook the figure is drawn when the cell ends; in a script call ``plt.show()``
or ``fig.savefig(...)`` yourself. Nothing here imports TensorFlow or Keras.

Letters used in shapes:
    N      number of images
    H, W   image height and width in pixels
    C      channels (1 for Fashion-MNIST, 3 for CIFAR-10); C_out for a layer's filters
    K      number of classes
    kh, kw kernel height and width

Labels may be given as integers ``(N,)`` or as one-hot / probability rows ``(N, K)``;
rows are turned into class indices with ``argmax``. Inputs are never modified.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

__all__ = [
    "comparison_table",
    "confusion_matrix",
    "most_confused_pairs",
    "plot_confusion_matrix",
    "plot_feature_maps",
    "plot_filters",
    "plot_history",
    "plot_misclassified",
    "plot_sample_grid",
]


def _as_class_indices(labels: Any, name: str) -> np.ndarray:
    """Class indices ``(N,)`` int64 from integer labels ``(N,)`` or one-hot rows ``(N, K)``."""
    array = np.asarray(labels)
    if array.ndim == 2:
        return np.argmax(array, axis=1).astype(np.int64)
    if array.ndim != 1:
        raise ValueError(f"{name} must have shape (N,) or (N, K), got {array.shape}")
    return array.astype(np.int64)


def _as_display_image(image: np.ndarray) -> np.ndarray:
    """An image ready for ``imshow``: ``(H, W)`` for one channel, ``(H, W, 3)`` otherwise."""
    if image.ndim == 3 and image.shape[-1] == 1:
        return image[..., 0]
    return image


def _grid(count: int, cols: int, cell_size: float = 1.6) -> tuple[Figure, np.ndarray]:
    """A figure with ``ceil(count / cols)`` rows of ``cols`` axes, ticks off; axes flattened."""
    cols = max(1, min(cols, count))
    rows = max(1, math.ceil(count / cols))
    fig, axes = plt.subplots(
        rows, cols, figsize=(cell_size * cols, cell_size * rows), squeeze=False
    )
    axes = axes.ravel()
    for ax in axes:
        ax.set_axis_off()
    return fig, axes


def plot_sample_grid(
    images: Any,
    labels: Any,
    class_names: Sequence[str],
    rows: int = 5,
    cols: int = 5,
) -> Figure:
    """Show the first ``rows * cols`` images, each titled with its class name.

    Inputs:
    - images: (N, H, W) or (N, H, W, C) array, any numeric dtype (uint8 0..255 or float 0..1).
    - labels: (N,) integer class indices or (N, K) one-hot rows.
    - class_names: K names, ``class_names[i]`` is the name of class ``i``.
    - rows, cols: grid size; cells without an image stay blank.

    Returns:
    - the Figure, with ``rows * cols`` axes.
    """
    images = np.asarray(images)
    indices = _as_class_indices(labels, "labels")
    if len(images) != len(indices):
        raise ValueError(
            f"images and labels must have the same length, got {images.shape} and {indices.shape}"
        )
    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 1.8 * rows), squeeze=False)
    for i, ax in enumerate(axes.ravel()):
        ax.set_axis_off()
        if i < len(images):
            ax.imshow(_as_display_image(images[i]), cmap="gray")
            ax.set_title(class_names[indices[i]], fontsize=9)
    fig.tight_layout()
    return fig


def _history_dict(history: Any) -> Mapping[str, Sequence[float]]:
    """The ``{metric: [value per epoch]}`` dict of a Keras History, or the dict itself."""
    metrics = getattr(history, "history", history)
    if not isinstance(metrics, Mapping):
        raise TypeError(
            f"history must be a keras History or its .history dict, got {type(history).__name__}"
        )
    return metrics


def plot_history(history: Any) -> Figure:
    """Plot loss and accuracy per epoch, training against validation when present.

    Inputs:
    - history: a ``keras.callbacks.History`` or its ``.history`` dict, with ``"loss"`` and
      optionally ``"val_loss"``, ``"accuracy"`` and ``"val_accuracy"`` (one value per epoch).

    Returns:
    - the Figure: two axes (loss, accuracy), or one when no accuracy was recorded.
    """
    metrics = _history_dict(history)
    if "loss" not in metrics:
        raise ValueError(f"history has no 'loss' entry; its keys are {sorted(metrics)}")
    panels = ["loss"] + (["accuracy"] if "accuracy" in metrics else [])
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.5), squeeze=False)
    for ax, metric in zip(axes.ravel(), panels, strict=True):
        for key, label in ((metric, "train"), (f"val_{metric}", "validation")):
            if key in metrics:
                values = list(metrics[key])
                epochs = range(1, len(values) + 1)
                ax.plot(epochs, values, marker="o", markersize=3, label=label)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(metric)
        ax.set_title(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return fig


def confusion_matrix(y_true: Any, y_pred: Any, num_classes: int) -> np.ndarray:
    """Count how often each true class was predicted as each class.

    Inputs:
    - y_true: (N,) integer class indices or (N, K) one-hot rows.
    - y_pred: (N,) integer class indices or (N, K) probability rows (argmax is taken).
    - num_classes: K.

    Returns:
    - cm: (K, K) int64; ``cm[i, j]`` is the number of images of true class ``i`` predicted
      as class ``j``. Rows are true classes, columns predictions (like scikit-learn).
    """
    true = _as_class_indices(y_true, "y_true")
    pred = _as_class_indices(y_pred, "y_pred")
    if true.shape != pred.shape:
        raise ValueError(
            f"y_true and y_pred must hold the same number of labels, got {true.shape} "
            f"and {pred.shape}"
        )
    for name, values in (("y_true", true), ("y_pred", pred)):
        if values.size and (values.min() < 0 or values.max() >= num_classes):
            raise ValueError(
                f"{name} must hold classes in [0, {num_classes}), got values in "
                f"[{values.min()}, {values.max()}]"
            )
    counts = np.bincount(true * num_classes + pred, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes).astype(np.int64)


def plot_confusion_matrix(cm: Any, class_names: Sequence[str]) -> Figure:
    """Draw a confusion matrix as a heat map with the count in every cell.

    Inputs:
    - cm: (K, K) counts from :func:`confusion_matrix` (rows true, columns predicted).
    - class_names: K names.

    Returns:
    - the Figure, with one axes.
    """
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.shape[0] != len(class_names):
        raise ValueError(
            f"cm must be (K, K) with K = len(class_names) = {len(class_names)}, got {cm.shape}"
        )
    k = cm.shape[0]
    fig, ax = plt.subplots(figsize=(0.75 * k + 2.5, 0.75 * k + 1.5))
    ax.imshow(cm, cmap="Blues")
    threshold = cm.max() / 2 if cm.size else 0
    for i in range(k):
        for j in range(k):
            color = "white" if cm[i, j] > threshold else "black"
            ax.text(j, i, f"{cm[i, j]:g}", ha="center", va="center", fontsize=8, color=color)
    ax.set_xticks(range(k), class_names, rotation=45, ha="right")
    ax.set_yticks(range(k), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("confusion matrix")
    fig.tight_layout()
    return fig


def most_confused_pairs(
    cm: Any, class_names: Sequence[str], k: int = 5
) -> list[tuple[str, str, int]]:
    """The ``k`` largest off-diagonal cells of a confusion matrix.

    Inputs:
    - cm: (K, K) counts (rows true, columns predicted).
    - class_names: K names.
    - k: how many pairs to return at most.

    Returns:
    - a list of ``(true_name, predicted_name, count)``, largest count first; ties are ordered
      by true class, then predicted class, so the result is deterministic. Pairs that were
      never confused (count 0) are left out.
    """
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.shape[0] != len(class_names):
        raise ValueError(
            f"cm must be (K, K) with K = len(class_names) = {len(class_names)}, got {cm.shape}"
        )
    cells = [
        (int(cm[i, j]), i, j)
        for i in range(cm.shape[0])
        for j in range(cm.shape[1])
        if i != j and cm[i, j] > 0
    ]
    cells.sort(key=lambda cell: (-cell[0], cell[1], cell[2]))
    return [(class_names[i], class_names[j], count) for count, i, j in cells[:k]]


def plot_misclassified(
    images: Any,
    y_true: Any,
    y_pred: Any,
    class_names: Sequence[str],
    n: int = 16,
) -> Figure:
    """Show the first ``n`` misclassified images with their true and predicted class.

    Inputs:
    - images: (N, H, W) or (N, H, W, C).
    - y_true: (N,) class indices or (N, K) one-hot rows.
    - y_pred: (N,) class indices or (N, K) probability rows.
    - class_names: K names.
    - n: how many mistakes to show at most (in dataset order).

    Returns:
    - the Figure: a grid of at most ``ceil(sqrt(n))`` columns with one axes per shown mistake
      (the last row padded with blank axes), or a single axes saying there was no mistake.
    """
    images = np.asarray(images)
    true = _as_class_indices(y_true, "y_true")
    pred = _as_class_indices(y_pred, "y_pred")
    if not len(images) == len(true) == len(pred):
        raise ValueError(
            f"images, y_true and y_pred must have the same length, got {images.shape}, "
            f"{true.shape} and {pred.shape}"
        )
    wrong = np.flatnonzero(true != pred)[:n]
    if wrong.size == 0:
        fig, ax = plt.subplots(figsize=(3, 1))
        ax.set_axis_off()
        ax.text(0.5, 0.5, "no misclassified images", ha="center", va="center")
        return fig
    fig, axes = _grid(len(wrong), cols=math.ceil(math.sqrt(n)), cell_size=1.9)
    for ax, index in zip(axes, wrong, strict=False):
        ax.imshow(_as_display_image(images[index]), cmap="gray")
        ax.set_title(
            f"true: {class_names[true[index]]}\npred: {class_names[pred[index]]}", fontsize=8
        )
    fig.tight_layout()
    return fig


def plot_filters(kernel: Any, cols: int = 8, shared_scale: bool = False) -> Figure:
    """Show each filter of a first convolution layer as a small image.

    Inputs:
    - kernel: (kh, kw, 1, C_out) weights of a Conv2D layer on one-channel input, for example
      ``model.layers[0].get_weights()[0]``; (kh, kw, C_out) is accepted too.
    - cols: filters per row.
    - shared_scale: False (default) scales each filter to its own largest magnitude, which
      shows every filter's pattern; True puts all on one scale, which compares their strength.

    Returns:
    - the Figure: ``ceil(C_out / cols)`` rows of ``min(cols, C_out)`` axes. Colours are centred
      on zero: red positive weights, blue negative, white zero.
    """
    kernel = np.asarray(kernel)
    if kernel.ndim == 4:
        if kernel.shape[2] != 1:
            raise ValueError(
                f"kernel must have one input channel, (kh, kw, 1, C_out), got {kernel.shape}"
            )
        kernel = kernel[:, :, 0, :]
    if kernel.ndim != 3:
        raise ValueError(f"kernel must have shape (kh, kw, 1, C_out), got {kernel.shape}")
    c_out = kernel.shape[-1]
    limits = np.abs(kernel).max(axis=(0, 1))  # (C_out,)
    if shared_scale:
        limits = np.full_like(limits, limits.max(initial=0.0))
    fig, axes = _grid(c_out, cols, cell_size=1.1)
    for c, ax in enumerate(axes[:c_out]):
        limit = float(limits[c]) or 1.0
        ax.imshow(kernel[:, :, c], cmap="RdBu_r", vmin=-limit, vmax=limit)
        ax.set_title(str(c), fontsize=7)
    fig.suptitle(f"{c_out} filters of {kernel.shape[0]}x{kernel.shape[1]}")
    fig.tight_layout()
    return fig


def plot_feature_maps(maps: Any, cols: int = 8) -> Figure:
    """Show each channel of one image's activations as a grey-scale image.

    Inputs:
    - maps: (H, W, C) activations of one image, or (1, H, W, C) (a batch of one).
    - cols: maps per row.

    Returns:
    - the Figure: ``ceil(C / cols)`` rows of ``min(cols, C)`` axes, each map scaled on its own.
    """
    maps = np.asarray(maps)
    if maps.ndim == 4 and maps.shape[0] == 1:
        maps = maps[0]
    if maps.ndim != 3:
        raise ValueError(f"maps must have shape (H, W, C) or (1, H, W, C), got {maps.shape}")
    channels = maps.shape[-1]
    fig, axes = _grid(channels, cols, cell_size=1.3)
    for c, ax in enumerate(axes[:channels]):
        ax.imshow(maps[:, :, c], cmap="viridis")
        ax.set_title(str(c), fontsize=7)
    fig.suptitle(f"{channels} feature maps of {maps.shape[0]}x{maps.shape[1]}")
    fig.tight_layout()
    return fig


_TABLE_COLUMNS = (
    ("model", "Model"),
    ("accuracy", "Test accuracy"),
    ("parameters", "Parameters"),
    ("seconds", "Training time (s)"),
)


def comparison_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """Render models side by side as a Markdown table that also reads well as plain text.

    Inputs:
    - rows: one mapping per model with keys ``"model"`` (name), ``"accuracy"`` (test
      accuracy in [0, 1]), ``"parameters"`` (int) and ``"seconds"`` (training time).

    Returns:
    - the table as a string, one line per row plus a header and a separator line, columns
      padded to equal width; accuracy as a percentage, parameters with thousands separators.
    """
    cells = [[title for _, title in _TABLE_COLUMNS]]
    for number, row in enumerate(rows):
        missing = [key for key, _ in _TABLE_COLUMNS if key not in row]
        if missing:
            raise ValueError(f"row {number} lacks {missing}; it has {sorted(row)}")
        cells.append(
            [
                str(row["model"]),
                f"{100 * float(row['accuracy']):.2f}%",
                f"{int(row['parameters']):,}",
                f"{float(row['seconds']):.1f}",
            ]
        )
    widths = [max(len(line[c]) for line in cells) for c in range(len(_TABLE_COLUMNS))]

    def render(line: list[str]) -> str:
        padded = [line[0].ljust(widths[0])] + [
            value.rjust(width) for value, width in zip(line[1:], widths[1:], strict=True)
        ]
        return "| " + " | ".join(padded) + " |"

    separator = (
        "| "
        + " | ".join(["-" * widths[0]] + ["-" * (width - 1) + ":" for width in widths[1:]])
        + " |"
    )
    return "\n".join([render(cells[0]), separator, *(render(line) for line in cells[1:])])
