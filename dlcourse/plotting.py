"""Small matplotlib helpers for the course notebooks.

Every ``plot_*`` function builds a new figure and returns it (``imshow_signed`` draws on an
axes you give it); none calls ``plt.show()``.
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
from dataclasses import dataclass
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import EngFormatter, MaxNLocator, PercentFormatter

__all__ = [
    "WindowLayout",
    "comparison_table",
    "confusion_matrix",
    "imshow_signed",
    "most_confused_pairs",
    "plot_accuracy_vs_parameters",
    "plot_confusion_matrix",
    "plot_feature_maps",
    "plot_filters",
    "plot_history",
    "plot_map_rows",
    "plot_misclassified",
    "plot_sample_grid",
    "plot_shift_accuracy",
    "plot_window_positions",
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


def imshow_signed(ax: Any, values: Any, title: str | None = None, annotate: bool = False) -> Any:
    """Draw signed values on ``ax``: red positive, blue negative, white zero, with a colour bar.

    Inputs:
    - ax: a matplotlib Axes.
    - values: (H, W) array of real numbers, not modified.
    - title: the axes title, or None.
    - annotate: write each value in its cell (for small arrays such as a 3x3 kernel).

    Returns:
    - the AxesImage. The colour scale is symmetric, ``[-m, m]`` with ``m`` the largest
      magnitude (1 for an all-zero array), so equal colours mean equal values on either side.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2:
        raise ValueError(f"values must have shape (H, W), got {values.shape}")
    limit = float(np.abs(values).max()) or 1.0
    image = ax.imshow(values, cmap="RdBu_r", vmin=-limit, vmax=limit)
    if annotate:
        for (row, col), value in np.ndenumerate(values):
            # dark cells (|value| near the limit) get white text, light cells black
            color = "white" if abs(value) > 0.6 * limit else "black"
            ax.text(col, row, f"{value:g}", ha="center", va="center", fontsize=9, color=color)
    ax.set_xticks([])
    ax.set_yticks([])
    if title is not None:
        ax.set_title(title, fontsize=10)
    ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.03)
    return image


def plot_map_rows(
    rows: Mapping[str, Any],
    title: str,
    column_label: str = "filter",
    shared_scale: bool = False,
    cell_size: float = 2.2,
) -> Figure:
    """Show several stages of the same channels, one labelled row per stage, one column per channel.

    Inputs:
    - rows: ``{row label: maps}``, maps of shape (H, W, C) or (1, H, W, C), the same C in every
      row (H and W may differ, e.g. before and after pooling). Labels name the stage, e.g.
      ``"after conv"``, ``"after ReLU"``.
    - title: the figure title.
    - column_label: columns are titled ``f"{column_label} {c}"``.
    - shared_scale: False (default) gives each row its own colour scale; True puts every row
      on one scale, so a stage that only removes or keeps values (ReLU, max pooling) shows
      the kept values in exactly the colours they had before.
    - cell_size: inches per map (2.2 fits 4 columns in a 10-inch notebook).

    Returns:
    - the Figure: ``len(rows) * C`` map axes plus one colour bar per row. The maps of a row
      share one colour scale so they compare: values with negatives among them (or all zero)
      are drawn red/blue centred on zero (``[-m, m]``, white zero), other values in viridis
      from 0 to the maximum.
    """
    stages = {label: _as_maps(maps, label) for label, maps in rows.items()}
    if not stages:
        raise ValueError("rows must hold at least one stage")
    channels = {maps.shape[-1] for maps in stages.values()}
    if len(channels) != 1:
        shapes = {label: maps.shape for label, maps in stages.items()}
        raise ValueError(f"every row must have the same number of channels, got {shapes}")
    count = channels.pop()
    everything = np.concatenate([maps.ravel() for maps in stages.values()])
    height = cell_size * len(stages) + 0.8  # 0.7 inch on top for the title and column titles
    # fixed margins: a layout engine would take most of the drawing time
    fig, axes = plt.subplots(
        len(stages), count, figsize=(cell_size * count + 1.2, height), squeeze=False,
        gridspec_kw={"wspace": 0.06, "hspace": 0.12, "left": 0.07, "right": 0.97,
                     "top": 1 - 0.7 / height, "bottom": 0.02},
    )
    for row, (label, maps) in enumerate(stages.items()):
        scaled = everything if shared_scale else maps
        low, high = float(scaled.min()), float(scaled.max())
        if low < 0 or high == 0:  # all zeros (e.g. a difference) too: white, not dark purple
            limit = max(-low, high) or 1.0
            style = {"cmap": "RdBu_r", "vmin": -limit, "vmax": limit}
        else:
            style = {"cmap": "viridis", "vmin": 0.0, "vmax": high or 1.0}
        for c, ax in enumerate(axes[row]):
            image = ax.imshow(maps[:, :, c], **style)
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(f"{column_label} {c}", fontsize=10)
        axes[row, 0].set_ylabel(f"{label}\n{maps.shape[0]}x{maps.shape[1]}", fontsize=10)
        fig.colorbar(image, ax=list(axes[row]), fraction=0.03, pad=0.015)
    fig.suptitle(title)
    return fig


def _as_maps(maps: Any, name: str) -> np.ndarray:
    """Maps ``(H, W, C)`` from ``(H, W, C)`` or a batch of one ``(1, H, W, C)``."""
    array = np.asarray(maps, dtype=np.float64)
    if array.ndim == 4 and array.shape[0] == 1:
        array = array[0]
    if array.ndim != 3:
        raise ValueError(f"{name!r} must have shape (H, W, C) or (1, H, W, C), got {array.shape}")
    return array


@dataclass(frozen=True)
class WindowLayout:
    """Where a square kernel's windows lie along both axes of a square input.

    Fields (one axis; the other is the same): ``size`` input length, ``kernel_size`` window
    length, ``stride`` step between windows, ``padding`` ``"valid"`` or ``"same"`` (used in the
    title's formula), ``out`` the output length (e.g. from your ``output_size``),
    ``pad_before`` / ``pad_after`` the zeros added at the top/left and bottom/right.
    """

    size: int
    kernel_size: int
    stride: int
    padding: str
    out: int
    pad_before: int = 0
    pad_after: int = 0

    def formula(self) -> str:
        """The output-size formula of the padding, with this layout's numbers."""
        if self.padding == "same":
            return f"out = ceil({self.size} / {self.stride}) = {self.out}"
        return f"out = floor(({self.size} - {self.kernel_size}) / {self.stride}) + 1 = {self.out}"


_PADDING_FACE = "#f4c98b"  # the zeros padding adds: orange, apart from the white input cells


def plot_window_positions(layouts: Sequence[WindowLayout]) -> Figure:
    """Draw padding and stride as grids: one row per layout, the input and the output.

    Left: the input's cells (white), the padding's zero cells (orange, marked 0), and
    the outline of every window position in its own colour, a dot at its centre. Right: the
    output grid, each cell in the colour of the window that computes it. Titles give the
    padding, kernel, stride and the output-size formula with its numbers. Windows are drawn
    where ``out`` puts them, even beyond the padded input, so a wrong ``out`` shows.

    Inputs:
    - layouts: WindowLayout values, e.g. valid and same padding for one kernel and stride.

    Returns:
    - the Figure: two axes per layout. Artists carry a gid for tests: "input", "padding",
      "window" and "output" rectangles.
    """
    if not layouts:
        raise ValueError("layouts must hold at least one WindowLayout")
    spans = [_window_span(layout) for layout in layouts]
    widest = max(spans)
    largest_out = max(layout.out for layout in layouts)
    fig, axes = plt.subplots(
        len(layouts), 2, figsize=(8.5, 4.2 * len(layouts)), squeeze=False,
        gridspec_kw={"width_ratios": [widest, largest_out + 1]}, layout="constrained",
    )
    for (ax_in, ax_out), layout, span in zip(axes, layouts, spans, strict=True):
        colors = _draw_windows(ax_in, layout, span)
        _draw_output(ax_out, layout, colors, span)
    return fig


def _window_span(layout: WindowLayout) -> int:
    """Cells the drawing must cover: the padded input, or farther if the windows reach it."""
    padded = layout.pad_before + layout.size + layout.pad_after
    return max(padded, (layout.out - 1) * layout.stride + layout.kernel_size)


def _draw_windows(ax: Any, layout: WindowLayout, span: int) -> list[Any]:
    """The padded input with every window outlined; the windows' colours, row by row."""
    start, stop = layout.pad_before, layout.pad_before + layout.size
    padded = layout.pad_before + layout.size + layout.pad_after
    for row in range(padded):
        for col in range(padded):
            inside = start <= row < stop and start <= col < stop
            cell = Rectangle((col, row), 1, 1, facecolor="white" if inside else _PADDING_FACE,
                             edgecolor="0.6", linewidth=0.8, gid="input" if inside else "padding")
            ax.add_patch(cell)
            if not inside:
                ax.text(col + 0.5, row + 0.5, "0", ha="center", va="center", fontsize=8)
    count = layout.out * layout.out
    palette = plt.get_cmap("tab10" if count <= 10 else "tab20")
    colors = [palette(index % palette.N) for index in range(count)]
    k = layout.kernel_size
    for index, color in enumerate(colors):
        row, col = divmod(index, layout.out)
        top, left = row * layout.stride, col * layout.stride
        # neighbouring windows overlap along shared lines: insets that differ between any two
        # neighbours (across, down or diagonal) keep their outlines apart
        inset = 0.07 + 0.08 * ((row + col) % 3)
        ax.add_patch(Rectangle((left + inset, top + inset), k - 2 * inset, k - 2 * inset,
                               fill=False, edgecolor=color, linewidth=2, gid="window"))
        ax.plot(left + k / 2, top + k / 2, "o", color=color, markersize=5)
    ax.set_xlim(-0.1, span + 0.1)
    ax.set_ylim(span + 0.1, -0.1)  # row 0 at the top, as in an image
    ax.set_aspect("equal")
    ax.set_axis_off()
    pads = (f"padding: {layout.pad_before} before, {layout.pad_after} after (orange zeros)"
            if layout.pad_before or layout.pad_after else "no padding")
    ax.set_title(
        f"padding='{layout.padding}', {k}x{k} kernel, stride {layout.stride} on "
        f"{layout.size}x{layout.size}\n{pads}",
        fontsize=10, loc="left",
    )
    return colors


def _draw_output(ax: Any, layout: WindowLayout, colors: list[Any], span: int) -> None:
    """The output grid, each cell in its window's colour and marked with its (row, column).

    The axes is ``span`` cells high, like the input's, so cells have the same size in both.
    """
    for index, color in enumerate(colors):
        row, col = divmod(index, layout.out)
        ax.add_patch(Rectangle((col, row), 1, 1, facecolor=color, alpha=0.45, edgecolor="0.3",
                               gid="output"))
        ax.text(col + 0.5, row + 0.5, f"{row},{col}", ha="center", va="center", fontsize=8)
    ax.set_xlim(-0.5, layout.out + 0.5)
    ax.set_ylim(span + 0.1, -0.1)
    ax.set_aspect("equal")
    ax.set_axis_off()
    ax.set_title(f"output {layout.out}x{layout.out}\n{layout.formula()}", fontsize=10, loc="left")


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


def plot_accuracy_vs_parameters(rows: Sequence[Mapping[str, Any]]) -> Figure:
    """Plot each model's test accuracy against its number of parameters (log-scale x axis).

    Inputs:
    - rows: one mapping per model with keys ``"model"`` (name), ``"accuracy"`` (test accuracy
      in [0, 1]) and ``"parameters"`` (int > 0); the rows of :func:`comparison_table` work
      as they are (other keys are ignored).

    Returns:
    - the Figure: one axes, one marked point per model, named in the legend with its accuracy
      and parameter count (a legend, not labels at the points: models of almost the same
      size, like the MLP and the simple CNN, would print their labels on top of each other).
    """
    if not rows:
        raise ValueError("rows is empty: give at least one model")
    for number, row in enumerate(rows):
        missing = [key for key in ("model", "accuracy", "parameters") if key not in row]
        if missing:
            raise ValueError(f"row {number} lacks {missing}; it has {sorted(row)}")
        if int(row["parameters"]) <= 0:
            raise ValueError(f"row {number} ({row['model']}) has {row['parameters']} parameters")
    fig, ax = plt.subplots(figsize=(7, 4.2))
    markers = "osD^vP*X"
    for number, row in enumerate(rows):
        parameters, accuracy = int(row["parameters"]), float(row["accuracy"])
        ax.plot(
            [parameters], [accuracy], linestyle="none", marker=markers[number % len(markers)],
            markersize=10, label=f"{row['model']}: {accuracy:.1%}, {parameters:,} parameters",
        )
    counts = [int(row["parameters"]) for row in rows]
    ax.set_xscale("log")
    ax.set_xlim(min(counts) / 3, max(counts) * 3)  # room around the points on the log axis
    ax.xaxis.set_major_formatter(EngFormatter(sep=""))
    ax.yaxis.set_major_formatter(PercentFormatter(xmax=1))
    ax.margins(y=0.25)
    ax.set_xlabel("parameters (log scale)")
    ax.set_ylabel("test accuracy")
    ax.set_title("Test accuracy against model size (up and to the left is better)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), frameon=False)
    fig.tight_layout()
    return fig


def plot_shift_accuracy(
    shifts: Sequence[int], accuracies: Mapping[str, Mapping[str, Sequence[float]]]
) -> Figure:
    """Plot how each model's test accuracy changes when the test images are shifted.

    Inputs:
    - shifts: S shifts in pixels, for example ``[-3, -2, -1, 0, 1, 2, 3]`` (0: unshifted).
    - accuracies: one panel per entry, ``{panel title: {model name: S accuracies in [0, 1]}}``,
      for example ``{"left (-) / right (+)": {...}, "up (-) / down (+)": {...}}``.

    Returns:
    - the Figure: one axes per panel, side by side, one line per model; the y axis runs from
      0 to 100% in every panel so that drops are drawn to scale, and a model keeps its colour
      and marker in every panel.
    """
    shifts = [int(shift) for shift in shifts]
    if not accuracies:
        raise ValueError("accuracies is empty: give at least one panel")
    models = list(dict.fromkeys(name for panel in accuracies.values() for name in panel))
    styles = {
        name: (f"C{number % 10}", "osD^vP*X"[number % 8]) for number, name in enumerate(models)
    }
    fig, axes = plt.subplots(
        1, len(accuracies), figsize=(5 * len(accuracies), 3.8), squeeze=False
    )
    for ax, (title, panel) in zip(axes.ravel(), accuracies.items(), strict=True):
        for name, values in panel.items():
            values = [float(value) for value in values]
            if len(values) != len(shifts):
                raise ValueError(
                    f"{title!r}: {name!r} has {len(values)} accuracies for {len(shifts)} shifts"
                )
            color, marker = styles[name]
            ax.plot(shifts, values, color=color, marker=marker, label=name)
        ax.set_ylim(0, 1)
        ax.yaxis.set_major_formatter(PercentFormatter(xmax=1))
        ax.set_xticks(shifts)
        ax.set_xlabel("shift (pixels)")
        ax.set_ylabel("test accuracy")
        ax.set_title(f"shifted {title}")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower center", fontsize=9)
    fig.suptitle("Test accuracy on shifted test images")
    fig.tight_layout()
    return fig
