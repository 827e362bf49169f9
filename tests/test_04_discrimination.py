"""Do the checks of 04_cifar10_challenge tell a good submitted model from bad or hostile ones?

Each case is the reference challenge.py with a submission/model.keras made here: over the
parameter budget, the wrong input shape, logits instead of probabilities, a Lambda layer or a
custom class that would write a file when loaded, a truncated file, another architecture.
Each must lose the checks named for it, with a clear message, and no file may appear. The
reference with its trained model scores 100; the released starter (no submission) scores 0.
The smoke run of train() does not depend on the submitted file, so it is left out here.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import keras
import pytest
from course_checks import check_titles

ROOT = Path(__file__).resolve().parent.parent
ASSIGNMENT = "04_cifar10_challenge"
SOLUTION = ROOT / "solutions" / ASSIGNMENT
WITHOUT_SMOKE_RUN = "not smoke_run"
LOADING = {"test_submission_holds_only_keras_builtins", "test_submission_loads_safely",
           "test_input_and_output", "test_parameter_budget",
           "test_architecture_matches_build_model", "test_test_accuracy"}

needs_data = pytest.mark.usefixtures("real_data_dir")


def grade(submission: Path, out: Path, *args: str) -> dict[str, dict]:
    """Grade 04 from `submission`; results.json's checks by check function name."""
    done = subprocess.run([sys.executable, "-m", "autograder", "grade", ASSIGNMENT,
                           "--submission", str(submission), "--out", str(out), *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    by_title = {t["name"]: t for t in results["tests"]}
    return {name: by_title[title] for name, title in check_titles(ASSIGNMENT).items()
            if title in by_title}


def submission_with(tmp_path: Path, save) -> Path:
    """A submission folder: the reference challenge.py and a model.keras written by save."""
    folder = tmp_path / "submission" / ASSIGNMENT
    (folder / "submission").mkdir(parents=True)
    shutil.copyfile(SOLUTION / "challenge.py", folder / "challenge.py")
    save(folder / "submission" / "model.keras")
    return folder.parent


def _small(inputs: tuple = (32, 32, 3), softmax: bool = True) -> keras.Model:
    x = inputs_layer = keras.Input(inputs)
    x = keras.layers.Rescaling(1 / 255)(x)
    x = keras.layers.Conv2D(8, 3, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(16, activation="relu")(x)
    x = keras.layers.Dense(10, activation="softmax" if softmax else None)(x)
    return keras.Model(inputs_layer, x)


def _big() -> keras.Model:
    """1,233,610 parameters: over the budget."""
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Flatten()(keras.layers.Rescaling(1 / 255)(inputs))
    x = keras.layers.Dense(400, activation="relu")(x)
    return keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x))


@keras.saving.register_keras_serializable(package="student")
class Backdoor(keras.layers.Layer):
    """A custom layer whose loading would write a file (it must never be loaded)."""

    def __init__(self, marker: str = "", **kwargs) -> None:
        super().__init__(**kwargs)
        self.marker = marker

    def call(self, x):
        return x

    def get_config(self) -> dict:
        return {**super().get_config(), "marker": self.marker}

    @classmethod
    def from_config(cls, config: dict) -> Backdoor:
        Path(config["marker"]).write_text("custom class code ran in the grader")
        return cls(**config)


def _with_layer(layer: keras.layers.Layer) -> keras.Model:
    inputs = keras.Input((32, 32, 3))
    x = layer(keras.layers.Rescaling(1 / 255)(inputs))
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x))


def _truncated(model: keras.Model, path: Path) -> None:
    """Save `model` to `path`, then keep only the first half of the file."""
    model.save(path)
    path.write_bytes(path.read_bytes()[:path.stat().st_size // 2])


def _writes_file(marker: Path):
    """A lambda whose code creates `marker` (the path written into its code, so that Keras
    saves it with the model)."""
    return eval(f"lambda x: (open({str(marker)!r}, 'w').close(), x)[1]")  # noqa: S307


def _marker(tmp_path: Path) -> Path:
    return tmp_path / "code-ran-in-the-grader.txt"


CASES = {
    # name: (how to save model.keras, checks that must score 0, a fragment of one message)
    "over_budget": (lambda path, tmp: _big().save(path),
                    {"test_parameter_budget", "test_architecture_matches_build_model",
                     "test_test_accuracy"}, "the budget is 1,000,000"),
    "wrong_input_shape": (lambda path, tmp: _small(inputs=(28, 28, 3)).save(path),
                          {"test_input_and_output", "test_architecture_matches_build_model",
                           "test_test_accuracy"}, "(None, 32, 32, 3)"),
    "logits": (lambda path, tmp: _small(softmax=False).save(path),
               {"test_input_and_output", "test_architecture_matches_build_model",
                "test_test_accuracy"}, "non-negative"),
    "lambda_writes_file": (lambda path, tmp: _with_layer(keras.layers.Lambda(
        _writes_file(_marker(tmp)))).save(path), LOADING, "a Lambda layer"),
    "custom_class": (lambda path, tmp: _with_layer(Backdoor(str(_marker(tmp)))).save(path),
                     LOADING, "registered custom object"),
    "truncated": (lambda path, tmp: _truncated(_small(), path),
                  LOADING, "is not a complete .keras file"),
    "other_architecture": (lambda path, tmp: _small().save(path),
                           {"test_architecture_matches_build_model", "test_test_accuracy"},
                           "differ from layer"),
}


@needs_data
@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_submission_loses_what_it_should(case, tmp_path):
    """Does each bad or hostile model lose exactly the checks named for it (the file exists,
    so that check passes), with a clear message, and run no code of its own?"""
    save, loses, fragment = CASES[case]
    submission = submission_with(tmp_path, lambda path: save(path, tmp_path))
    _marker(tmp_path).unlink(missing_ok=True)  # saving a Lambda model may have traced it
    checks = grade(submission, tmp_path / "out", "--checks-filter", WITHOUT_SMOKE_RUN)
    lost = {name for name, check in checks.items() if check["score"] == 0}
    assert lost == loses, (case, {n: c["output"][:200] for n, c in checks.items()})
    assert checks["test_submission_exists"]["score"] == 5
    assert any(fragment in checks[name]["output"] for name in loses), (
        case, [checks[name]["output"][:300] for name in loses])
    assert not _marker(tmp_path).exists(), "code from the model file ran in the grader"


@needs_data
@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_starter_without_a_submission_scores_zero(tmp_path):
    """Does the released starter (no model.keras) score 0, every check saying what to do?"""
    submission = tmp_path / "submission"
    shutil.copytree(ROOT / "assignments" / ASSIGNMENT, submission / ASSIGNMENT)
    checks = grade(submission, tmp_path / "out")
    assert sum(c["score"] for c in checks.values()) == 0
    assert "there is no submission/model.keras" in checks["test_submission_exists"]["output"]


@needs_data
@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_reference_scores_full_marks(tmp_path):
    """Does the reference challenge.py with its trained model get 100, smoke run included?"""
    checks = grade(ROOT / "solutions", tmp_path / "out")
    assert {n: c["score"] for n, c in checks.items() if c["score"] < c["max_score"]} == {}
