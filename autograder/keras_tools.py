"""Keras models cross the worker boundary as `.keras` files, loaded here with safe_mode=True."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autograder.checks import CheckFailed

SAFE_MODEL_HINT = ("build the model from Keras' built-in layers only (no Lambda layers, "
                   "no custom classes), and return it from the function")


def load_student_model(path: str | Path) -> Any:
    """Load a model the worker saved, refusing anything that could run code when loaded."""
    import keras

    try:
        return keras.saving.load_model(str(path), safe_mode=True, compile=True)
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        raise CheckFailed(f"your model could not be loaded safely by the grader: {reason}",
                          SAFE_MODEL_HINT) from None


def save_model(model: Any, path: str) -> str:
    """Worker side: check that `model` is a Keras model and save it to `path` (.keras)."""
    import keras

    if not isinstance(model, keras.Model):
        raise TypeError(f"expected a keras.Model, got {type(model).__name__}")
    model.save(path)
    return path


def build_and_save(module: Any, builder: str, path: str, *args: Any, **kwargs: Any) -> str:
    """Worker task: call the student's `builder(*args, **kwargs)` and save the model it returns."""
    return save_model(getattr(module, builder)(*args, **kwargs), path)
