"""Tests for dlcourse.plotting on tiny synthetic arrays (Agg backend, no TensorFlow)."""

import subprocess
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.figure import Figure

from dlcourse import plotting

NAMES = ["cat", "dog", "bird"]
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def close_figures():
    """Close every figure a test opened, so figures never pile up between tests."""
    yield
    plt.close("all")


def test_confusion_matrix_matches_a_hand_computed_case():
    """Does confusion_matrix put true classes in rows and predictions in columns?"""
    y_true = np.array([0, 0, 1, 1, 1, 2, 2, 2, 2])
    y_pred = np.array([0, 1, 1, 1, 0, 2, 1, 1, 0])
    expected = np.array(
        [
            [1, 1, 0],
            [1, 2, 0],
            [1, 2, 1],
        ]
    )
    cm = plotting.confusion_matrix(y_true, y_pred, num_classes=3)
    np.testing.assert_array_equal(cm, expected)
    assert cm.dtype == np.int64
    assert cm.sum() == len(y_true)


def test_confusion_matrix_accepts_one_hot_and_probabilities():
    """Are one-hot labels and probability rows reduced with argmax?"""
    y_true = np.eye(3, dtype=np.float32)[[0, 1, 2, 2]]
    y_prob = np.array([[0.8, 0.1, 0.1], [0.3, 0.6, 0.1], [0.5, 0.2, 0.3], [0.0, 0.1, 0.9]])
    cm = plotting.confusion_matrix(y_true, y_prob, num_classes=3)
    np.testing.assert_array_equal(cm, [[1, 0, 0], [0, 1, 0], [1, 0, 1]])


def test_confusion_matrix_keeps_empty_classes():
    """Does a class that never occurs still get its (zero) row and column?"""
    cm = plotting.confusion_matrix([0, 0], [0, 0], num_classes=3)
    assert cm.shape == (3, 3)
    assert cm[0, 0] == 2 and cm.sum() == 2


def test_confusion_matrix_rejects_out_of_range_labels():
    """Does a label outside [0, K) raise an error naming the argument?"""
    with pytest.raises(ValueError, match="y_pred"):
        plotting.confusion_matrix([0, 1], [0, 3], num_classes=3)


def test_most_confused_pairs_orders_by_count_then_class():
    """Are pairs sorted by count (largest first), ties by true then predicted class?"""
    cm = np.array(
        [
            [9, 2, 5],
            [2, 8, 0],
            [1, 5, 7],
        ]
    )
    pairs = plotting.most_confused_pairs(cm, NAMES, k=4)
    assert pairs == [
        ("cat", "bird", 5),
        ("bird", "dog", 5),
        ("cat", "dog", 2),
        ("dog", "cat", 2),
    ]
    assert all(isinstance(count, int) for _, _, count in pairs)


def test_most_confused_pairs_skips_the_diagonal_and_zeros():
    """Are correct predictions and never-confused pairs left out?"""
    cm = np.array([[50, 0, 0], [0, 40, 1], [0, 0, 30]])
    assert plotting.most_confused_pairs(cm, NAMES, k=5) == [("dog", "bird", 1)]


def test_plot_sample_grid_has_rows_times_cols_axes():
    """Does the sample grid draw one titled axes per cell?"""
    images = np.random.default_rng(0).integers(0, 256, size=(7, 4, 4), dtype=np.uint8)
    labels = np.array([0, 1, 2, 0, 1, 2, 0])
    fig = plotting.plot_sample_grid(images, labels, NAMES, rows=2, cols=3)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 6
    assert fig.axes[1].get_title() == "dog"


def test_plot_history_accepts_history_objects_and_dicts():
    """Does plot_history draw loss and accuracy, train and validation, from either form?"""
    metrics = {
        "loss": [1.0, 0.5],
        "val_loss": [1.1, 0.7],
        "accuracy": [0.5, 0.8],
        "val_accuracy": [0.4, 0.7],
    }

    class FakeHistory:
        history = metrics

    for history in (metrics, FakeHistory()):
        fig = plotting.plot_history(history)
        assert isinstance(fig, Figure)
        assert len(fig.axes) == 2
        assert [len(ax.get_lines()) for ax in fig.axes] == [2, 2]


def test_plot_history_without_validation_or_accuracy():
    """Does a loss-only history give one axes with one line?"""
    fig = plotting.plot_history({"loss": [1.0, 0.5, 0.3]})
    assert len(fig.axes) == 1
    assert len(fig.axes[0].get_lines()) == 1


def test_plot_confusion_matrix_has_one_axes():
    """Does the confusion-matrix plot draw a single labelled axes?"""
    cm = np.array([[3, 1, 0], [0, 4, 1], [2, 0, 5]])
    fig = plotting.plot_confusion_matrix(cm, NAMES)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 1
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == NAMES


def test_plot_misclassified_shows_only_mistakes():
    """Does the gallery show min(n, mistakes) images in a sqrt(n)-wide grid?"""
    images = np.zeros((6, 4, 4, 1), dtype=np.float32)
    y_true = np.array([0, 1, 2, 0, 1, 2])
    y_pred = np.array([0, 2, 2, 1, 0, 0])  # 4 mistakes, at indices 1, 3, 4, 5
    fig = plotting.plot_misclassified(images, y_true, y_pred, NAMES, n=4)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 4
    assert fig.axes[0].get_title() == "true: dog\npred: bird"
    assert sum(1 for ax in fig.axes if ax.get_images()) == 4


def test_plot_misclassified_without_mistakes():
    """Does a perfect prediction give one axes instead of an error?"""
    fig = plotting.plot_misclassified(np.zeros((2, 4, 4)), [0, 1], [0, 1], NAMES)
    assert len(fig.axes) == 1


def test_plot_filters_one_axes_per_filter():
    """Does a (3, 3, 1, 12) kernel give 12 filter images in rows of 8?"""
    kernel = np.random.default_rng(0).normal(size=(3, 3, 1, 12)).astype(np.float32)
    fig = plotting.plot_filters(kernel)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 16  # 2 rows of 8, the last 4 blank
    assert sum(1 for ax in fig.axes if ax.get_images()) == 12


def test_plot_filters_scales_each_filter_or_all_together():
    """Is each filter on its own zero-centred scale, or on one shared scale when asked?"""
    kernel = np.stack([np.full((3, 3), 1.0), np.full((3, 3), -4.0)], axis=-1)[:, :, None, :]
    own = [ax.get_images()[0].get_clim() for ax in plotting.plot_filters(kernel).axes]
    assert own == [(-1.0, 1.0), (-4.0, 4.0)]
    shared = plotting.plot_filters(kernel, shared_scale=True).axes
    assert [ax.get_images()[0].get_clim() for ax in shared] == [(-4.0, 4.0), (-4.0, 4.0)]


def test_plot_filters_rejects_multi_channel_kernels():
    """Does a kernel with several input channels raise an error naming its shape?"""
    with pytest.raises(ValueError, match=r"\(3, 3, 2, 4\)"):
        plotting.plot_filters(np.zeros((3, 3, 2, 4)))


def test_plot_feature_maps_accepts_a_batch_of_one():
    """Do (H, W, C) and (1, H, W, C) activations give one axes per channel?"""
    maps = np.random.default_rng(0).random((5, 5, 4))
    for array in (maps, maps[np.newaxis]):
        fig = plotting.plot_feature_maps(array)
        assert isinstance(fig, Figure)
        assert len(fig.axes) == 4


def test_comparison_table_formats_markdown():
    """Does the table show percentages, thousands separators and one line per model?"""
    table = plotting.comparison_table(
        [
            {"model": "MLP", "accuracy": 0.8912, "parameters": 669706, "seconds": 41.234},
            {"model": "simple CNN", "accuracy": 0.9105, "parameters": 693962, "seconds": 95.0},
        ]
    )
    lines = table.splitlines()
    assert len(lines) == 4
    assert lines[0].startswith("| Model")
    assert set(lines[1]) <= {"|", " ", "-", ":"}
    assert "89.12%" in lines[2] and "669,706" in lines[2] and "41.2" in lines[2]
    assert "91.05%" in lines[3] and "693,962" in lines[3]
    assert len({len(line) for line in lines}) == 1  # columns padded to equal width


def test_comparison_table_names_missing_keys():
    """Does a row without a required key raise an error naming it?"""
    with pytest.raises(ValueError, match="seconds"):
        plotting.comparison_table([{"model": "MLP", "accuracy": 0.9, "parameters": 1}])


def test_importing_plotting_does_not_import_tensorflow():
    """Does `import dlcourse.plotting` stay free of TensorFlow and Keras (fast to import)?"""
    code = (
        "import sys, dlcourse.plotting; "
        "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert result.stdout.strip() == "[]", f"importing dlcourse.plotting loaded {result.stdout}"
