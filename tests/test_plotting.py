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


SIZE_ROWS = [
    {"model": "MLP", "accuracy": 0.89, "parameters": 669_706, "seconds": 40.0},
    {"model": "simple CNN", "accuracy": 0.91, "parameters": 693_962, "seconds": 95.0},
    {"model": "your CNN", "accuracy": 0.92, "parameters": 211_050, "seconds": 80.0},
]


def test_plot_accuracy_vs_parameters_puts_each_model_at_its_point():
    """Is every model one point at (parameters, accuracy) on a log-scale x axis, named with
    its figures in the legend?"""
    fig = plotting.plot_accuracy_vs_parameters(SIZE_ROWS)
    (ax,) = fig.axes
    assert ax.get_xscale() == "log"
    points = [(line.get_xdata()[0], line.get_ydata()[0]) for line in ax.get_lines()]
    assert points == [(669_706, 0.89), (693_962, 0.91), (211_050, 0.92)]
    low, high = ax.get_xlim()
    assert low < 211_050 and high > 693_962
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert legend[0] == "MLP: 89.0%, 669,706 parameters"
    assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel()


def test_plot_accuracy_vs_parameters_rejects_bad_rows():
    """Does a missing key or a parameter count of zero raise an error naming the row?"""
    with pytest.raises(ValueError, match="parameters"):
        plotting.plot_accuracy_vs_parameters([{"model": "MLP", "accuracy": 0.9}])
    with pytest.raises(ValueError, match="row 0"):
        plotting.plot_accuracy_vs_parameters([{"model": "M", "accuracy": 0.9, "parameters": 0}])
    with pytest.raises(ValueError, match="empty"):
        plotting.plot_accuracy_vs_parameters([])


def test_plot_shift_accuracy_draws_one_panel_per_direction():
    """Is there one panel per direction, one line per model over the shifts, y from 0 to 100%,
    and does a model keep its colour in every panel?"""
    shifts = [-2, -1, 0, 1, 2]
    accuracies = {
        "left / right": {"MLP": [0.5, 0.7, 0.9, 0.7, 0.5], "CNN": [0.8, 0.9, 0.9, 0.9, 0.8]},
        "up / down": {"CNN": [0.7, 0.9, 0.9, 0.85, 0.8], "MLP": [0.4, 0.7, 0.9, 0.6, 0.4]},
    }
    fig = plotting.plot_shift_accuracy(shifts, accuracies)
    assert len(fig.axes) == 2
    assert [ax.get_title() for ax in fig.axes] == ["shifted left / right", "shifted up / down"]
    colours = {}
    for ax, panel in zip(fig.axes, accuracies.values(), strict=True):
        assert ax.get_ylim() == (0.0, 1.0)
        assert ax.get_xlabel() and ax.get_ylabel()
        lines = {line.get_label(): line for line in ax.get_lines()}
        assert sorted(lines) == ["CNN", "MLP"]
        for name, values in panel.items():
            assert list(lines[name].get_xdata()) == shifts
            assert list(lines[name].get_ydata()) == values
            colours.setdefault(name, set()).add(lines[name].get_color())
    assert all(len(seen) == 1 for seen in colours.values()), colours
    assert colours["MLP"] != colours["CNN"]
    assert fig.get_suptitle()


def test_plot_shift_accuracy_rejects_a_wrong_number_of_accuracies():
    """Does a model with more or fewer accuracies than shifts raise an error naming it?"""
    with pytest.raises(ValueError, match="'CNN' has 2 accuracies for 3 shifts"):
        plotting.plot_shift_accuracy([-1, 0, 1], {"left / right": {"CNN": [0.9, 0.8]}})


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


def _patches(ax, gid):
    return [patch for patch in ax.patches if patch.get_gid() == gid]


def test_plot_window_positions_draws_padding_windows_and_output():
    """Does a 'same' 3x3 stride-2 layout on 5x5 show 24 padding cells, 9 windows, 3x3 outputs?"""
    layout = plotting.WindowLayout(5, 3, 2, "same", out=3, pad_before=1, pad_after=1)
    fig = plotting.plot_window_positions([layout])
    ax_in, ax_out = fig.axes
    assert len(_patches(ax_in, "input")) == 25
    assert len(_patches(ax_in, "padding")) == 7 * 7 - 25
    windows = _patches(ax_in, "window")
    assert len(windows) == 9 and len(_patches(ax_out, "output")) == 9
    # the last window starts (3 - 1) * stride = 4 cells in and ends at the padded edge, 7
    last = windows[-1].get_bbox()
    assert 4 < last.x0 < 4.5 and 6.5 < last.x1 < 7
    assert "padding: 1 before, 1 after" in ax_in.get_title(loc="left")
    assert ax_out.get_title(loc="left") == "output 3x3\nout = ceil(5 / 2) = 3"


def test_plot_window_positions_puts_the_odd_zero_after_and_shows_a_wrong_size():
    """Does (0, 1) padding shade only the last row and column, and do windows of a wrong
    output size reach beyond the padded input instead of being hidden?"""
    odd = plotting.WindowLayout(6, 3, 2, "same", out=3, pad_before=0, pad_after=1)
    ax_in = plotting.plot_window_positions([odd]).axes[0]
    assert {(p.get_x(), p.get_y()) for p in _patches(ax_in, "padding")} == (
        {(6, row) for row in range(7)} | {(col, 6) for col in range(7)})
    wrong = plotting.WindowLayout(5, 3, 2, "valid", out=3)  # the right size is 2
    fig = plotting.plot_window_positions([wrong])
    assert max(p.get_bbox().x1 for p in _patches(fig.axes[0], "window")) > 5
    assert fig.axes[0].get_xlim()[1] > 6.5
    assert fig.axes[1].get_title(loc="left").endswith("+ 1 = 3")


def test_plot_window_positions_rejects_no_layout():
    """Does an empty list of layouts raise an error instead of an empty figure?"""
    with pytest.raises(ValueError, match="WindowLayout"):
        plotting.plot_window_positions([])


def test_imshow_signed_centres_the_colours_on_zero_and_adds_a_colour_bar():
    """Is the scale [-m, m] for the largest magnitude m, with a colour bar and optional values?"""
    fig, ax = plt.subplots()
    values = np.array([[1.0, -3.0], [0.5, 2.0]])
    image = plotting.imshow_signed(ax, values, "kernel", annotate=True)
    assert image.get_clim() == (-3.0, 3.0)
    assert image.get_cmap().name == "RdBu_r"
    assert len(fig.axes) == 2  # the map and its colour bar
    assert [text.get_text() for text in ax.texts] == ["1", "-3", "0.5", "2"]
    assert ax.get_title() == "kernel"
    _, ax = plt.subplots()
    assert plotting.imshow_signed(ax, np.zeros((2, 2))).get_clim() == (-1.0, 1.0)


def test_plot_map_rows_labels_rows_and_scales_signed_rows_around_zero():
    """Does each stage get a labelled row, a colour bar, and a scale fit to its values?"""
    conv = np.array([[[-2.0, 1.0], [4.0, 0.0]]]).reshape(1, 2, 1, 2).repeat(2, axis=2)
    relu = np.maximum(conv, 0)
    fig = plotting.plot_map_rows({"after conv": conv, "after ReLU": relu[0],
                                  "after 2x2 max-pool": relu[0, :1, :1]}, "stages")
    maps = [ax for ax in fig.axes if ax.get_images() and ax.get_label() != "<colorbar>"]
    assert len(maps) == 6 and len(fig.axes) == 6 + 3  # one colour bar per row
    assert [maps[c].get_ylabel() for c in (0, 2, 4)] == [
        "after conv\n2x2", "after ReLU\n2x2", "after 2x2 max-pool\n1x1"]
    assert [maps[c].get_title() for c in (0, 1)] == ["filter 0", "filter 1"]
    conv_scale, relu_scale = maps[0].get_images()[0], maps[2].get_images()[0]
    assert conv_scale.get_clim() == (-4.0, 4.0) and conv_scale.get_cmap().name == "RdBu_r"
    assert relu_scale.get_clim() == (0.0, 4.0) and relu_scale.get_cmap().name == "viridis"
    assert fig.get_suptitle() == "stages"


def test_plot_map_rows_shared_scale_keeps_colours_between_stages():
    """With shared_scale, does every row use the red/blue [-m, m] scale of all the values?"""
    conv = np.array([[[-1.0], [3.0]]])  # (1, 2, 1): H=1, W=2, C=1
    fig = plotting.plot_map_rows({"after conv": conv, "after ReLU": np.maximum(conv, 0)},
                                 "stages", shared_scale=True)
    clims = [ax.get_images()[0].get_clim() for ax in fig.axes if ax.get_images()
             and ax.get_label() != "<colorbar>"]
    assert clims == [(-3.0, 3.0), (-3.0, 3.0)]


def test_plot_map_rows_draws_an_all_zero_row_white():
    """Is an all-zero row (a perfect difference) on a red/blue scale, where 0 is white?"""
    fig = plotting.plot_map_rows({"difference": np.zeros((3, 3, 2))}, "zero")
    image = fig.axes[0].get_images()[0]
    assert image.get_cmap().name == "RdBu_r" and image.get_clim() == (-1.0, 1.0)


def test_plot_map_rows_rejects_rows_with_different_channel_counts():
    """Does a row with another number of channels raise an error naming the shapes?"""
    with pytest.raises(ValueError, match=r"\(4, 4, 3\)"):
        plotting.plot_map_rows({"a": np.zeros((4, 4, 2)), "b": np.zeros((4, 4, 3))}, "t")
