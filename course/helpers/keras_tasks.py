"""Worker-side tasks of the Keras assignments: build, train and save a student's model.

Each task is `task(module, *args, **kwargs)`, called by `student.run(task, ...)` with the
student's module, inside the (sandboxed) worker. The data comes from the trusted side by
value: the worker reads no dataset. Keras models cannot cross the pipe, so the tasks save
them to `.keras` files in the worker's own folder and return the files' bytes; the checks
write them out and load them on the trusted side with `safe_mode=True`
(`keras_checks.load_model`) and judge what the models compute there.

These tasks run next to the student's code, which could replace them: nothing they report
decides a score unless the trusted side can verify it (times are measured outside). Keras is
imported lazily.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from course.helpers.array_tasks import array_summary


def seed_keras(seed: int) -> None:
    """Worker policy hook: seed Keras (and its backend) when the student's code imported it."""
    import sys

    if "keras" in sys.modules:
        sys.modules["keras"].utils.set_random_seed(seed)


def model_bytes(model: Any) -> bytes:
    """Check that `model` is a Keras model; the bytes of its `.keras` file."""
    import keras

    if not isinstance(model, keras.Model):
        raise TypeError(f"expected a keras.Model, got {type(model).__name__}")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.keras"
        model.save(path)
        return path.read_bytes()


def build_and_save(module: Any, builder: str, *args: Any, **kwargs: Any) -> bytes:
    """Call the student's `builder(*args, **kwargs)`; the saved model it returns, as bytes."""
    return model_bytes(getattr(module, builder)(*args, **kwargs))


def fit_small_batch_and_save(module: ModuleType, builder: str, x: np.ndarray, y: np.ndarray, *,
                             epochs: int, batch_size: int, seed: int) -> tuple[bytes, bytes]:
    """Build a model and fit it on (x, y): the saved model before and after, as bytes.

    The fit uses the student's compile settings (optimizer, loss) and Keras' own `fit`, not the
    student's `train`, so the check sees whether the model can learn at all. After the fit,
    BatchNormalization statistics are recomputed on the same images ("precise BN"): after a
    few hundred steps the moving averages still lag far behind the weights, and the check is
    about learning, not about those averages.
    """
    import keras

    keras.utils.set_random_seed(seed)
    model = getattr(module, builder)()
    before = model_bytes(model)
    model.fit(x, y, epochs=epochs, batch_size=batch_size, shuffle=True, verbose=0)
    recompute_batch_norm_statistics(model, x)
    return before, model_bytes(model)


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


def train_and_save(module: ModuleType, builder: str, x: np.ndarray, y: np.ndarray, *,
                   seed: int) -> dict[str, Any]:
    """Build the student's model and train it with the student's `train` on (x, y).

    Returns the trained model's bytes, the type name of what `train` returned, and the
    `array_summary` of x and of y as they are after `train` (only here can `train` be seen
    writing into them; the arrays themselves are too large to send back).
    """
    import keras

    keras.utils.set_random_seed(seed)  # the initial weights too
    model = getattr(module, builder)()
    history = module.train(model, x, y, seed=seed)
    return {"model": model_bytes(model), "returned": type(history).__name__,
            "returned_history": isinstance(history, keras.callbacks.History),
            "inputs_after": {"x": array_summary(x), "y": array_summary(y)}}


def train_small_and_save(module: ModuleType, builder: str, x: np.ndarray, y: np.ndarray, *,
                         seed: int) -> tuple[bytes, bytes]:
    """Build a model and train it with the student's own `train` on (x, y): the saved model
    before and after, as bytes (a smoke run: does `train` run and learn at all?)."""
    import keras

    keras.utils.set_random_seed(seed)
    model = getattr(module, builder)()
    before = model_bytes(model)
    module.train(model, x, y, seed=seed)
    return before, model_bytes(model)
