"""Worker-side tasks of the Keras assignments: build, train and save a student's model.

Each task is `task(module, *args, **kwargs)`, called by `student.run(task, ...)` with the
student's module, inside the worker. Keras models cannot cross the pipe, so the tasks save
them to `.keras` files; the checks load those files on the trusted side with `safe_mode=True`
(`keras_checks.load_model`) and judge what the models compute there. The tasks report only
plain numbers and paths. Keras is imported lazily.
"""

from __future__ import annotations

import time
from types import ModuleType
from typing import Any

import numpy as np

from course.helpers.fashion_data import load_split


def seed_keras(seed: int) -> None:
    """Worker policy hook: seed Keras (and its backend) when the student's code imported it."""
    import sys

    if "keras" in sys.modules:
        sys.modules["keras"].utils.set_random_seed(seed)


def save_model(model: Any, path: str) -> str:
    """Check that `model` is a Keras model and save it to `path` (.keras)."""
    import keras

    if not isinstance(model, keras.Model):
        raise TypeError(f"expected a keras.Model, got {type(model).__name__}")
    model.save(path)
    return path


def build_and_save(module: Any, builder: str, path: str, *args: Any, **kwargs: Any) -> str:
    """Call the student's `builder(*args, **kwargs)` and save the model it returns."""
    return save_model(getattr(module, builder)(*args, **kwargs), path)


def fit_small_batch_and_save(module: ModuleType, builder: str, before_path: str,
                             after_path: str, *, channels_last: bool, images: int,
                             epochs: int, batch_size: int, seed: int) -> dict[str, Any]:
    """Build a model, save it, fit it on the first `images` training images, save it again.

    The fit uses the student's compile settings (optimizer, loss) and Keras' own `fit`, not the
    student's `train`, so the check sees whether the model can learn at all. After the fit,
    BatchNormalization statistics are recomputed on the same images ("precise BN"): after a
    few hundred steps the moving averages still lag far behind the weights, and the check is
    about learning, not about those averages.
    """
    import keras

    x, y = load_split("train", channels_last=channels_last, limit=images)
    keras.utils.set_random_seed(seed)
    model = getattr(module, builder)()
    save_model(model, before_path)
    start = time.perf_counter()
    model.fit(x, y, epochs=epochs, batch_size=batch_size, shuffle=True, verbose=0)
    seconds = time.perf_counter() - start
    recompute_batch_norm_statistics(model, x)
    save_model(model, after_path)
    return {"fit_seconds": seconds}


def recompute_batch_norm_statistics(model: Any, x: np.ndarray) -> None:
    """Set every BatchNormalization layer's moving mean and variance to its statistics on x.

    One forward pass in training mode with momentum 0 (each layer's momentum is restored).
    """
    import keras

    def batch_norms(layer: Any) -> list[Any]:
        found = [layer] if isinstance(layer, keras.layers.BatchNormalization) else []
        for inner in getattr(layer, "layers", []):
            found += batch_norms(inner)
        return found

    layers = batch_norms(model)
    if not layers:
        return
    momenta = [layer.momentum for layer in layers]
    try:
        for layer in layers:
            layer.momentum = 0.0
        model(x, training=True)
    finally:
        for layer, momentum in zip(layers, momenta, strict=True):
            layer.momentum = momentum


def train_and_save(module: ModuleType, builder: str, path: str, *, channels_last: bool,
                   seed: int) -> dict[str, Any]:
    """Build the student's model and train it with the student's `train` on all 60,000 images.

    The data comes from the grader's reference preprocessing. Returns the saved model's path,
    the wall time of `train` alone and the type name of what `train` returned.
    """
    import keras

    x, y = load_split("train", channels_last=channels_last)
    keras.utils.set_random_seed(seed)  # the initial weights too
    model = getattr(module, builder)()
    start = time.perf_counter()
    history = module.train(model, x, y, seed=seed)
    seconds = time.perf_counter() - start
    save_model(model, path)
    return {"path": path, "train_seconds": seconds, "returned": type(history).__name__,
            "returned_history": isinstance(history, keras.callbacks.History)}
