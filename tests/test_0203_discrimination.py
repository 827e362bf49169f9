"""Do the checks of 02_mlp_baseline and 03_fashion_cnn tell correct submissions from buggy ones?

Every submission is graded end to end by the CLI in a subprocess, as a student's would be, and
judged from its results.json. The solutions and an independent alternative (Functional API,
NumPy one-hot, separate activation layers: tests/fixtures/keras_variants/) score 100; the
released skeletons score 0 without crashing the grader; each buggy variant, made from the
solution by one small edit, loses the points of the checks named for it and keeps the others.

Buggy variants that touch preprocessing or structure are graded without the performance tier
(`--checks-filter`), so they take seconds; the slow tests (marked `slow`) train for real.
A tiny AUTOGRADER_TIME_BUDGET_SCALE makes the over-budget variants quick.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from course_checks import COURSE, check_titles

ROOT = Path(__file__).resolve().parent.parent
MODULES = {a: COURSE.get(a).module_file for a in ("02_mlp_baseline", "03_fashion_cnn")}
VARIANTS_DIR = ROOT / "tests" / "fixtures" / "keras_variants"
ALTERNATIVES = {"02_mlp_baseline": "alt_mlp.py", "03_fashion_cnn": "alt_cnn.py"}
PERFORMANCE = "within_budget or after_training"
NOT_PERFORMANCE = f"not ({PERFORMANCE})"
GRADE_TIMEOUT_S = 1200

needs_data = pytest.mark.usefixtures("real_data_dir")


def grade(sources: dict[str, str], tmp_path: Path, checks_filter: str | None = None,
          env: dict[str, str] | None = None) -> dict[str, dict[str, dict]]:
    """Grade {assignment: module source} through the CLI.

    Returns {assignment: {check function name: its results.json entry}}.
    """
    submission = tmp_path / "submission"
    for assignment, source in sources.items():
        (submission / assignment).mkdir(parents=True)
        (submission / assignment / MODULES[assignment]).write_text(source, encoding="utf-8")
    out = tmp_path / "grading"
    command = [sys.executable, "-m", "autograder", "grade", *sources, "--submission",
               str(submission), "--out", str(out)]
    if checks_filter:
        command += ["--checks-filter", checks_filter]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True,
                          timeout=GRADE_TIMEOUT_S, env={**os.environ, **(env or {})})
    assert done.returncode == 0, f"the grader failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    graded: dict[str, dict[str, dict]] = {}
    for assignment in sources:
        by_title = {t["name"]: t for t in results["tests"] if assignment in t["tags"]}
        graded[assignment] = {name: by_title[title]
                              for name, title in check_titles(assignment).items()
                              if title in by_title}
    return graded


def total(checks: dict[str, dict]) -> tuple[float, float]:
    return (sum(c["score"] for c in checks.values()),
            sum(c["max_score"] for c in checks.values()))


def solution(assignment: str) -> str:
    return (ROOT / "solutions" / assignment / MODULES[assignment]).read_text(encoding="utf-8")


def edited(assignment: str, old: str, new: str) -> str:
    """The solution with `old` replaced by `new`; `old` must occur exactly once."""
    source = solution(assignment)
    assert source.count(old) == 1, f"{old!r} occurs {source.count(old)} times in the solution"
    return source.replace(old, new)


# ---------------------------------------------------------------------------------------------
# Buggy variants: one edit of the solution each, and the checks that must lose their points
# ---------------------------------------------------------------------------------------------

@dataclass
class Variant:
    name: str
    assignment: str
    old: str
    new: str
    loses: set[str]  # check function names that must score 0
    may_lose: set[str] = field(default_factory=set)  # affected or not, both are fair
    checks_filter: str = NOT_PERFORMANCE
    env: dict[str, str] = field(default_factory=dict)
    says: dict[str, str] = field(default_factory=dict)  # check name -> text its output holds
    first_says: str = ""  # the first line of the first failed check's output names the bug

    def source(self) -> str:
        return edited(self.assignment, self.old, self.new)


MLP, CNN = "02_mlp_baseline", "03_fashion_cnn"
MLP_FIT = "history = model.fit(\n        x, y,"
SLEEPY_FIT = ("history = model.fit(\n        x[:1024], y[:1024], epochs=1, verbose=0)\n"
              "    __import__('time').sleep(12)\n    history = model.fit(\n        x[:1], y[:1],")
NOISE_FIT = ("history = model.fit(\n        np.random.default_rng(0).random(x[:512].shape, "
             "dtype=np.float32), y[:512],")
OVER_BUDGET_ENV = {"AUTOGRADER_TIME_BUDGET_SCALE": "0.02"}  # budgets of 3.6 s and 8.4 s
# A budget of 27 s with an allowance of 3 s: a train() that sleeps 16 s is charged more than half
# of it, and stays well within it.
SLOW_FIT = ("history = model.fit(\n        x[:1024], y[:1024], epochs=1, verbose=0)\n"
            "    __import__('time').sleep(16)\n    history = model.fit(\n        x[:1], y[:1],")
SLOW_ENV = {"AUTOGRADER_TIME_BUDGET_SCALE": "0.15"}
# train() writes into the caller's x (and y); the short fit after it keeps the variants quick.
SHORT_FIT = ("history = model.fit(\n        x[:1024], y[:1024], epochs=1, verbose=0)\n"
             "    history = model.fit(\n        x[:1], y[:1],")
SCALES_IN_PLACE_FIT = "x /= 255  # in place: the caller's array\n    " + SHORT_FIT
SHUFFLES_IN_PLACE_FIT = ("order = np.random.default_rng(seed).permutation(len(x))\n"
                         "    x[:] = x[order]  # in place: the caller's arrays\n"
                         "    y[:] = y[order]\n    " + SHORT_FIT)
MLP_OUTPUT = 'model.add(keras.layers.Dense(num_classes, activation="softmax"))'
MLP_COMPILE = 'model.compile(optimizer="adam", loss="categorical_crossentropy"'
# The grader's own task names: never in what a student reads.
INTERNAL_NAMES = ("build_and_save", "fit_small_batch_and_save", "train_and_save",
                  "train_small_and_save", "call_and_return_inputs", "model_bytes")

VARIANTS = [
    # --- 02: preprocessing
    Variant("mlp_no_scaling", MLP, "astype(np.float32) / np.float32(255.0)", "astype(np.float32)",
            # the inputs-unchanged check counts only with correct values (a stub earns nothing)
            loses={"test_preprocess_scales_and_flattens",
                   "test_preprocess_leaves_inputs_unchanged"},
            first_says="the division by 255 is missing"),
    Variant("mlp_wrong_one_hot", MLP, "to_categorical(labels, num_classes=NUM_CLASSES)",
            "to_categorical((labels + 1) % NUM_CLASSES, num_classes=NUM_CLASSES)",
            loses={"test_preprocess_one_hot_labels", "test_preprocess_leaves_inputs_unchanged"},
            first_says="at column labels[i] + 1"),
    Variant("mlp_modifies_input", MLP, "    x = images.reshape(",
            "    images[images > 127] = 255  # in place: the caller's array\n"
            "    x = images.reshape(",
            loses={"test_preprocess_leaves_inputs_unchanged",
                   "test_preprocess_scales_and_flattens"},
            first_says="preprocess modified its input(s) images"),
    # --- 02: structure
    Variant("mlp_softmax_missing", MLP,
            'model.add(keras.layers.Dense(num_classes, activation="softmax"))',
            "model.add(keras.layers.Dense(num_classes))",
            loses={"test_build_mlp_layer_signature", "test_build_mlp_uses_its_arguments",
                   "test_mlp_outputs_probabilities"},
            may_lose={"test_mlp_overfits_a_small_batch"},
            first_says="the softmax is missing"),
    Variant("mlp_wrong_layer_order", MLP,
            "        model.add(keras.layers.Dense(units, activation=\"relu\"))\n"
            "        model.add(keras.layers.Dropout(dropout))",
            "        model.add(keras.layers.Dropout(dropout))\n"
            "        model.add(keras.layers.Dense(units, activation=\"relu\"))",
            loses={"test_build_mlp_output_shapes", "test_build_mlp_layer_signature",
                   "test_build_mlp_uses_its_arguments"},
            may_lose={"test_mlp_overfits_a_small_batch"},
            first_says="the output of layer 1 (Dropout(0.2))"),
    Variant("mlp_wrong_sizes", MLP, "hidden_units: tuple[int, ...] = (512, 512)",
            "hidden_units: tuple[int, ...] = (512, 256)",
            loses={"test_build_mlp_output_shapes", "test_build_mlp_parameter_count",
                   "test_build_mlp_layer_signature"},
            first_says="the output of layer 3 (Dense(256, relu))"),
    Variant("mlp_wrong_loss", MLP,
            'model.compile(optimizer="adam", loss="categorical_crossentropy"',
            'model.compile(optimizer="adam", loss="mean_squared_error"',
            loses={"test_build_mlp_compile_settings"},
            may_lose={"test_mlp_overfits_a_small_batch"},
            first_says="got {'name': 'mean_squared_error'"),
    # --- 02: Keras errors translated, and known bugs named
    Variant("mlp_input_not_flat", MLP, "model.add(keras.Input(shape=(NUM_FEATURES,)))",
            "model.add(keras.Input(shape=(28, 28)))\n    model.add(keras.layers.Flatten())",
            loses={"test_build_mlp_output_shapes", "test_build_mlp_layer_signature",
                   "test_build_mlp_uses_its_arguments", "test_mlp_outputs_probabilities",
                   "test_mlp_overfits_a_small_batch"},
            says={"test_mlp_overfits_a_small_batch": "your model expects inputs of shape "
                  "(None, 28, 28) but the check feeds (N, 784)",
                  "test_mlp_outputs_probabilities": "your model expects inputs of shape "
                  "(None, 28, 28) but the check feeds (N, 784)"},
            first_says="one input of shape (None, 784), got [(None, 28, 28)]"),
    Variant("mlp_too_few_outputs", MLP, MLP_OUTPUT,
            'model.add(keras.layers.Dense(num_classes // 2, activation="softmax"))',
            loses={"test_build_mlp_output_shapes", "test_build_mlp_parameter_count",
                   "test_build_mlp_layer_signature", "test_build_mlp_uses_its_arguments",
                   "test_mlp_outputs_probabilities", "test_mlp_overfits_a_small_batch"},
            says={"test_mlp_overfits_a_small_batch": "the last layer of your model outputs 5 "
                  "value(s) per image, but the labels are one-hot over 10 classes"},
            first_says="the output of layer 5 (Dense(5, softmax))"),
    Variant("mlp_sparse_loss", MLP, MLP_COMPILE,
            'model.compile(optimizer="adam", loss="sparse_categorical_crossentropy"',
            loses={"test_build_mlp_compile_settings", "test_mlp_overfits_a_small_batch"},
            says={"test_mlp_overfits_a_small_batch": "the loss expects integer labels "
                  "(sparse_categorical_crossentropy), but the labels are one-hot"},
            first_says="sparse categorical cross-entropy, which expects integer labels"),
    Variant("mlp_softmax_twice", MLP, MLP_OUTPUT,
            MLP_OUTPUT + "\n    model.add(keras.layers.Softmax())",
            loses={"test_build_mlp_output_shapes", "test_build_mlp_layer_signature",
                   "test_build_mlp_uses_its_arguments"},
            may_lose={"test_mlp_overfits_a_small_batch"},
            first_says="softmax is applied twice"),
    Variant("mlp_from_logits_with_softmax", MLP, MLP_COMPILE,
            "model.compile(optimizer=\"adam\", "
            "loss=keras.losses.CategoricalCrossentropy(from_logits=True)",
            loses={"test_build_mlp_compile_settings"},
            may_lose={"test_mlp_overfits_a_small_batch"},
            first_says="from_logits=True, but the last layer already applies a softmax"),
    Variant("mlp_integer_labels", MLP,
            "keras.utils.to_categorical(labels, num_classes=NUM_CLASSES)", "np.asarray(labels)",
            loses={"test_preprocess_shapes_and_dtypes", "test_preprocess_one_hot_labels",
                   "test_preprocess_leaves_inputs_unchanged"},
            first_says="y holds the integer labels; one-hot encode them"),
    # --- 02: performance
    Variant("mlp_train_ignores_data", MLP, MLP_FIT, NOISE_FIT,
            loses={"test_test_accuracy_after_training"}, checks_filter=PERFORMANCE,
            first_says="the trained model learned nothing"),
    Variant("mlp_train_over_budget", MLP, MLP_FIT, SLEEPY_FIT,
            loses={"test_train_returns_history_within_budget",
                   "test_test_accuracy_after_training"},
            checks_filter=PERFORMANCE, env=OVER_BUDGET_ENV,
            says={"test_train_returns_history_within_budget": "the time budget is 4 s",
                  "test_test_accuracy_after_training": "performance points are lost"},
            first_says="the time budget is 4 s"),
    Variant("mlp_train_slow", MLP, MLP_FIT, SLOW_FIT,
            loses={"test_test_accuracy_after_training"},
            checks_filter=PERFORMANCE, env=SLOW_ENV,
            says={"test_train_returns_history_within_budget":
                  "s of 27 s: on a slower machine this fails; reduce epochs or the model size"},
            first_says="test accuracy"),
    Variant("mlp_train_scales_in_place", MLP, MLP_FIT, SCALES_IN_PLACE_FIT,
            loses={"test_train_returns_history_within_budget",
                   "test_test_accuracy_after_training"},
            checks_filter=PERFORMANCE,
            says={"test_train_returns_history_within_budget": "work on a copy"},
            first_says="train() modified x in place: every value was divided by 255"),
    # --- 03: preprocessing
    Variant("cnn_no_scaling", CNN, "astype(np.float32) / np.float32(255.0)", "astype(np.float32)",
            loses={"test_preprocess_values", "test_preprocess_leaves_inputs_unchanged"},
            first_says="the division by 255 is missing"),
    Variant("cnn_wrong_one_hot", CNN, "to_categorical(labels, num_classes=NUM_CLASSES)",
            "to_categorical((labels + 1) % NUM_CLASSES, num_classes=NUM_CLASSES)",
            loses={"test_preprocess_values", "test_preprocess_leaves_inputs_unchanged"},
            first_says="at column labels[i] + 1"),
    Variant("cnn_no_channel_axis", CNN,
            "np.expand_dims(images.astype(np.float32) / np.float32(255.0), axis=-1)",
            "images.astype(np.float32) / np.float32(255.0)",
            loses={"test_preprocess_shapes_and_dtypes", "test_preprocess_values",
                   "test_preprocess_leaves_inputs_unchanged"},
            first_says="x has no channel axis"),
    # --- 03: structure
    Variant("cnn_simple_softmax_missing", CNN,
            'keras.layers.Dense(NUM_CLASSES, activation="softmax"),',
            "keras.layers.Dense(NUM_CLASSES),",
            loses={"test_simple_cnn_layer_signature", "test_models_output_probabilities"},
            may_lose={"test_simple_cnn_overfits_a_small_batch"},
            first_says="the softmax is missing"),
    Variant("cnn_simple_wrong_filters", CNN,
            'keras.layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),',
            'keras.layers.Conv2D(16, kernel_size=(3, 3), activation="relu"),',
            loses={"test_simple_cnn_output_shapes", "test_simple_cnn_parameter_count",
                   "test_simple_cnn_layer_signature"},
            may_lose={"test_simple_cnn_overfits_a_small_batch"},
            first_says="the output of layer 1 (Conv2D(16, 3x3, relu))"),
    Variant("cnn_simple_wrong_layer_order", CNN,
            "            keras.layers.MaxPooling2D(pool_size=(2, 2)),\n"
            "            keras.layers.Flatten(),\n"
            "            keras.layers.Dense(128, activation=\"relu\"),",
            "            keras.layers.Dense(128, activation=\"relu\"),\n"
            "            keras.layers.MaxPooling2D(pool_size=(2, 2)),\n"
            "            keras.layers.Flatten(),",
            loses={"test_simple_cnn_output_shapes", "test_simple_cnn_parameter_count",
                   "test_simple_cnn_layer_signature"},
            may_lose={"test_simple_cnn_overfits_a_small_batch"},
            first_says="the output of layer 2 (Dense(128, relu))"),
    Variant("cnn_simple_wrong_loss", CNN,
            'model.compile(optimizer="adam", loss="categorical_crossentropy"',
            'model.compile(optimizer="adam", loss="mean_squared_error"',
            loses={"test_simple_cnn_compile_settings"},
            may_lose={"test_simple_cnn_overfits_a_small_batch"},
            first_says="got {'name': 'mean_squared_error'"),
    Variant("cnn_simple_flat_input", CNN, "keras.Input(shape=INPUT_SHAPE),\n"
            "            keras.layers.Conv2D(32",
            "keras.Input(shape=(784,)),\n            keras.layers.Conv2D(32",
            loses={"test_simple_cnn_output_shapes", "test_simple_cnn_parameter_count",
                   "test_simple_cnn_layer_signature", "test_simple_cnn_compile_settings",
                   "test_models_output_probabilities", "test_simple_cnn_overfits_a_small_batch"},
            first_says="a layer of your model needs inputs with 4 axes"),
    Variant("cnn_own_too_big", CNN, "x = keras.layers.Dense(64, activation=\"relu\")(x)",
            "x = keras.layers.Dense(128, activation=\"relu\")(x)",
            loses={"test_own_cnn_parameter_budget"},
            may_lose={"test_own_cnn_learns_a_small_batch"},
            first_says="parameters; the budget is 250,000"),
    # --- 03: performance
    Variant("cnn_train_ignores_data", CNN, MLP_FIT, NOISE_FIT,
            loses={"test_test_accuracy_after_training"}, checks_filter=PERFORMANCE,
            first_says="the trained model learned nothing"),
    Variant("cnn_train_shuffles_in_place", CNN, MLP_FIT, SHUFFLES_IN_PLACE_FIT,
            loses={"test_train_returns_history_within_budget",
                   "test_test_accuracy_after_training"},
            checks_filter=PERFORMANCE,
            says={"test_train_returns_history_within_budget":
                  "train() modified y in place: its rows were reordered"},
            first_says="train() modified x in place: its rows were reordered"),
    # train() fits the test set it loads itself: the sandboxed worker has no dataset (and no
    # network), so the load fails and both performance checks are lost
    Variant("cnn_trains_on_the_test_set", CNN, MLP_FIT,
            "from dlcourse.data import load_fashion_mnist\n\n"
            "    (_, _), (test_images, test_labels) = load_fashion_mnist()\n"
            "    x, y = preprocess(test_images, test_labels)\n    " + MLP_FIT,
            loses={"test_train_returns_history_within_budget",
                   "test_test_accuracy_after_training"},
            checks_filter=PERFORMANCE,
            first_says="train(model, x, y) raised"),
    Variant("cnn_train_over_budget", CNN, MLP_FIT, SLEEPY_FIT,
            loses={"test_train_returns_history_within_budget",
                   "test_test_accuracy_after_training"},
            checks_filter=PERFORMANCE, env=OVER_BUDGET_ENV,
            says={"test_train_returns_history_within_budget": "the time budget is 8 s"},
            first_says="the time budget is 8 s"),
]


def _pairs() -> list[tuple[Variant, Variant | None]]:
    """Grade an MLP variant and a CNN variant with the same filter and environment together."""
    mlp = [v for v in VARIANTS if v.assignment == MLP]
    cnn = [v for v in VARIANTS if v.assignment == CNN]
    pairs: list[tuple[Variant, Variant | None]] = []
    for variant in mlp:
        partner = next((c for c in cnn if c.checks_filter == variant.checks_filter
                        and c.env == variant.env), None)
        if partner is not None:
            cnn.remove(partner)
        pairs.append((variant, partner))
    pairs += [(c, None) for c in cnn]
    return pairs


@needs_data
@pytest.mark.parametrize("pair", _pairs(),
                         ids=lambda p: "+".join(v.name for v in p if v is not None))
def test_buggy_variant_loses_the_points_named_for_it(pair, tmp_path):
    """Does each buggy variant lose exactly the points of the checks its bug touches?"""
    variants = [v for v in pair if v is not None]
    graded = grade({v.assignment: v.source() for v in variants}, tmp_path,
                   checks_filter=variants[0].checks_filter, env=variants[0].env)
    for variant in variants:
        checks = graded[variant.assignment]
        assert variant.loses <= set(checks), f"{variant.name}: {sorted(checks)}"
        for name, check in checks.items():
            if name in variant.loses:
                assert check["score"] == 0, f"{variant.name}: {name} should score 0: {check}"
                assert check["output"], f"{variant.name}: {name} gives no feedback"
            elif name not in variant.may_lose:
                assert check["score"] == check["max_score"], (
                    f"{variant.name}: {name} should keep its points: {check}")
        for name, text in variant.says.items():
            assert text in checks[name]["output"], (variant.name, name, checks[name]["output"])
        failed = sorted((c for c in checks.values() if c["score"] < c["max_score"]),
                        key=lambda c: tuple(map(int, c["number"].split("."))))
        first_line = failed[0]["output"].splitlines()[0]
        assert variant.first_says in first_line, (variant.name, failed[0]["name"], first_line)
        for name, check in checks.items():
            leaked = [word for word in INTERNAL_NAMES if word in check["output"]]
            assert not leaked, (variant.name, name, check["output"])


@needs_data
def test_skeletons_score_zero_without_crashing(tmp_path):
    """Do the released skeletons score 0 on every check, each naming NotImplementedError?"""
    sources = {a: (ROOT / "assignments" / a / m).read_text(encoding="utf-8")
               for a, m in MODULES.items()}
    graded = grade(sources, tmp_path)
    for assignment, checks in graded.items():
        assert set(checks) == set(check_titles(assignment)), assignment
        assert total(checks) == (0, 100), (assignment, total(checks))
        for name, check in checks.items():
            assert "NotImplementedError" in check["output"], (assignment, name, check["output"])


@needs_data
@pytest.mark.slow
def test_solutions_score_full_marks(tmp_path):
    """Do the reference solutions score 100 on both assignments, training included?"""
    graded = grade({a: solution(a) for a in MODULES}, tmp_path)
    for assignment, checks in graded.items():
        assert total(checks) == (100, 100), (assignment, {
            n: c["output"] for n, c in checks.items() if c["score"] < c["max_score"]})


@needs_data
@pytest.mark.slow
def test_alternative_solutions_score_full_marks(tmp_path):
    """Does an independent, differently written correct solution score 100 on both?"""
    sources = {a: (VARIANTS_DIR / name).read_text(encoding="utf-8")
               for a, name in ALTERNATIVES.items()}
    graded = grade(sources, tmp_path)
    for assignment, checks in graded.items():
        assert total(checks) == (100, 100), (assignment, {
            n: c["output"] for n, c in checks.items() if c["score"] < c["max_score"]})
