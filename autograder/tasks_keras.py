"""Trusted tasks and references for the Keras checks of 02_mlp_baseline and 03_fashion_cnn.

Worker side: each task is `task(module, *args, **kwargs)`, called by `student.run(task, ...)`
with the student's module. Keras models cannot cross the pipe, so the tasks build, train and
save them to `.keras` files; the checks load those files on the trusted side
(`keras_tools.load_student_model`, `safe_mode=True`) and judge what the models compute there.
The tasks report only plain numbers and paths.

Trusted side: the reference preprocessing (used for both sides' data, so a bug in the
student's `preprocess` never costs the training checks) and the layer signature that compares
what a model computes rather than how it was written.

Keras is imported lazily, so collecting the checks stays fast.
"""

from __future__ import annotations

import time
from types import ModuleType
from typing import Any

import numpy as np

from autograder.keras_tools import save_model

NUM_CLASSES = 10


# ---------------------------------------------------------------------------------------------
# Reference data (both sides)
# ---------------------------------------------------------------------------------------------

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


# ---------------------------------------------------------------------------------------------
# Worker-side tasks
# ---------------------------------------------------------------------------------------------

def fit_small_batch_and_save(module: ModuleType, builder: str, before_path: str,
                             after_path: str, *, channels_last: bool, images: int,
                             epochs: int, batch_size: int, seed: int) -> dict[str, Any]:
    """Build a model, save it, fit it on the first `images` training images, save it again.

    The fit uses the student's compile settings (optimizer, loss) and Keras' own `fit`, not the
    student's `train`, so the check sees whether the model can learn at all.
    """
    import keras

    x, y = load_split("train", channels_last=channels_last, limit=images)
    keras.utils.set_random_seed(seed)
    model = getattr(module, builder)()
    save_model(model, before_path)
    start = time.perf_counter()
    model.fit(x, y, epochs=epochs, batch_size=batch_size, shuffle=True, verbose=0)
    seconds = time.perf_counter() - start
    save_model(model, after_path)
    return {"fit_seconds": seconds}


def train_and_save(module: ModuleType, builder: str, path: str, *, channels_last: bool,
                   seed: int) -> dict[str, Any]:
    """Build the student's model and train it with the student's `train` on all 60,000 images.

    The data comes from the grader's reference preprocessing. Returns the saved model's path,
    the wall time of `train` alone and the type name of what `train` returned.
    """
    import keras

    x, y = load_split("train", channels_last=channels_last)
    model = getattr(module, builder)()
    keras.utils.set_random_seed(seed)
    start = time.perf_counter()
    history = module.train(model, x, y, seed=seed)
    seconds = time.perf_counter() - start
    save_model(model, path)
    return {"path": path, "train_seconds": seconds, "returned": type(history).__name__,
            "returned_history": isinstance(history, keras.callbacks.History)}


# ---------------------------------------------------------------------------------------------
# Trusted side: what a loaded model computes
# ---------------------------------------------------------------------------------------------

_ACTIVATION_LAYERS = {"ReLU": "relu", "Softmax": "softmax"}


def _activation_name(value: Any) -> str:
    name = getattr(value, "__name__", None) or str(value)
    return "linear" if name in ("linear", "None") else name


def _layers(model: Any) -> list[Any]:
    """The model's layers in order, nested models expanded, InputLayers dropped."""
    import keras

    found = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            found += _layers(layer)
        elif not isinstance(layer, keras.layers.InputLayer):
            found.append(layer)
    return found


def _describe(layer: Any) -> dict[str, Any]:
    kind = type(layer).__name__
    entry: dict[str, Any] = {"type": kind}
    if kind == "Dense":
        entry.update(units=layer.units, activation=_activation_name(layer.activation))
    elif kind in ("Conv2D", "SeparableConv2D", "DepthwiseConv2D"):
        entry.update(filters=getattr(layer, "filters", None),
                     kernel_size=tuple(layer.kernel_size), strides=tuple(layer.strides),
                     padding=layer.padding, activation=_activation_name(layer.activation))
    elif kind in ("MaxPooling2D", "AveragePooling2D"):
        entry.update(pool_size=tuple(layer.pool_size), strides=tuple(layer.strides),
                     padding=layer.padding)
    elif kind == "Dropout":
        entry.update(rate=round(float(layer.rate), 6))
    elif kind == "Activation":
        entry.update(activation=_activation_name(layer.activation))
    elif kind in _ACTIVATION_LAYERS:
        entry = {"type": "Activation", "activation": _ACTIVATION_LAYERS[kind]}
    return entry


def layer_signature(model: Any) -> list[dict[str, Any]]:
    """What each layer of a model computes, independent of how the model was written.

    - Sequential and Functional models give the same list; nested models are expanded and
      InputLayers are not layers here.
    - A separate activation layer (`Activation("relu")`, `ReLU()`, `Softmax()`) right after a
      Dense or convolution layer without activation is merged into it, so
      `Dense(10, activation="softmax")` and `Dense(10)` + `Activation("softmax")` are equal.
    - A Flatten layer whose input is already flat computes nothing and is dropped.
    Each entry also holds the layer's output shape under the key "output_shape".
    """
    entries: list[dict[str, Any]] = []
    for layer in _layers(model):
        entry = _describe(layer)
        shape = tuple(layer.output.shape)
        if entry["type"] == "Flatten" and len(tuple(layer.input.shape)) == 2:
            continue
        previous = entries[-1] if entries else None
        if (entry["type"] == "Activation" and previous is not None
                and previous.get("activation") == "linear"):
            previous["activation"] = entry["activation"]
            previous["output_shape"] = shape
            continue
        entry["output_shape"] = shape
        entries.append(entry)
    return entries


def format_layer(entry: dict[str, Any]) -> str:
    """A signature entry as a short readable call, e.g. `Dense(512, relu)`."""
    kind = entry["type"]
    if kind == "Dense":
        return f"Dense({entry['units']}, {entry['activation']})"
    if kind in ("Conv2D", "SeparableConv2D", "DepthwiseConv2D"):
        k = "x".join(map(str, entry["kernel_size"]))
        extra = "" if entry["strides"] == (1, 1) else f", strides={entry['strides']}"
        extra += "" if entry["padding"] == "valid" else f", padding={entry['padding']!r}"
        return f"{kind}({entry['filters']}, {k}, {entry['activation']}{extra})"
    if kind in ("MaxPooling2D", "AveragePooling2D"):
        p = "x".join(map(str, entry["pool_size"]))
        extra = "" if entry["strides"] == entry["pool_size"] else f", strides={entry['strides']}"
        extra += "" if entry["padding"] == "valid" else f", padding={entry['padding']!r}"
        return f"{kind}({p}{extra})"
    if kind == "Dropout":
        return f"Dropout({entry['rate']:g})"
    if kind == "Activation":
        return f"Activation({entry['activation']})"
    return f"{kind}()"


def compile_settings(model: Any) -> dict[str, Any]:
    """The loaded model's compile settings in plain terms: optimizer, loss, metrics.

    loss is {"name": ..., "from_logits": bool, "label_smoothing": float}; metrics a list of
    names. Read from the saved compile config, so it is what the student's `compile` said.
    """
    config = model.get_compile_config() or {}
    optimizer = config.get("optimizer")
    if isinstance(optimizer, dict):
        optimizer = optimizer.get("class_name")
    loss = config.get("loss")
    loss_info: dict[str, Any] = {"name": None, "from_logits": False, "label_smoothing": 0.0}
    if isinstance(loss, str):
        loss_info["name"] = loss
    elif isinstance(loss, dict):
        loss_config = loss.get("config") or {}
        loss_info.update(name=loss.get("class_name"),
                         from_logits=bool(loss_config.get("from_logits", False)),
                         label_smoothing=float(loss_config.get("label_smoothing", 0.0) or 0.0))
    metrics = []
    for metric in config.get("metrics") or []:
        if isinstance(metric, dict):
            metrics.append(str(metric.get("class_name")))
        else:
            metrics.append(str(metric))
    return {"optimizer": optimizer, "loss": loss_info, "metrics": metrics}


CATEGORICAL_CROSSENTROPY = {"categorical_crossentropy", "CategoricalCrossentropy"}
ACCURACY_METRICS = {"accuracy", "acc", "categorical_accuracy", "CategoricalAccuracy"}


def predict(model: Any, x: np.ndarray) -> np.ndarray:
    """The model's outputs for `x` in inference mode, as float64."""
    return np.asarray(model.predict(x, batch_size=1000, verbose=0), dtype=np.float64)


def accuracy_and_loss(model: Any, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Accuracy (argmax) and mean categorical cross-entropy of the model's outputs on (x, y)."""
    probabilities = predict(model, x)
    accuracy = float(np.mean(np.argmax(probabilities, axis=1) == np.argmax(y, axis=1)))
    clipped = np.clip(probabilities, 1e-7, 1.0)
    loss = float(-np.mean(np.sum(y * np.log(clipped), axis=1)))
    return accuracy, loss


# ---------------------------------------------------------------------------------------------
# Trusted side: helpers shared by the check files
# ---------------------------------------------------------------------------------------------

TIME_BUDGET_SCALE_VARIABLE = "AUTOGRADER_TIME_BUDGET_SCALE"


def time_budget_scale() -> float:
    """Factor applied to every training time budget (environment variable, default 1).

    Meant for the grader's own tests (a tiny budget proves that an over-budget train() loses
    its points without waiting minutes) and for instructors grading on slow machines.
    """
    import os

    raw = os.environ.get(TIME_BUDGET_SCALE_VARIABLE, "1")
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{TIME_BUDGET_SCALE_VARIABLE} must be a number, got {raw!r}") from None
    if not value > 0:
        raise ValueError(f"{TIME_BUDGET_SCALE_VARIABLE} must be > 0, got {raw!r}")
    return value


def cached(cache: dict, key: Any, compute: Any) -> Any:
    """`compute()` once per key; a failure is remembered and raised again, not recomputed."""
    if key not in cache:
        try:
            cache[key] = (True, compute())
        except Exception as exc:
            cache[key] = (False, exc)
    ok, value = cache[key]
    if not ok:
        raise value
    return value


def check_signature(got: list[dict[str, Any]], want: list[dict[str, Any]], *, what: str,
                    hint: str, keys: tuple[str, ...] | None = None) -> None:
    """Fail unless the two layer signatures agree entry by entry (length included).

    keys: the entry keys compared (default: all but output_shape).
    """
    from autograder.checks import CheckFailed

    def strip(entry: dict[str, Any]) -> dict[str, Any]:
        chosen = keys or tuple(k for k in entry if k != "output_shape")
        return {k: entry.get(k) for k in ("type", *chosen)}

    chain_got = " -> ".join(format_layer(e) for e in got)
    chain_want = " -> ".join(format_layer(e) for e in want)
    for index, (g, w) in enumerate(zip(got, want, strict=False)):
        if strip(g) != strip(w):
            raise CheckFailed(
                f"{what}: layer {index + 1} should be {format_layer(w)}, got {format_layer(g)}."
                f"\nExpected: {chain_want}\nGot:      {chain_got}", hint)
    if len(got) != len(want):
        raise CheckFailed(
            f"{what}: expected {len(want)} layers (InputLayer not counted), got {len(got)}."
            f"\nExpected: {chain_want}\nGot:      {chain_got}", hint)


def check_output_shapes(got: list[dict[str, Any]], want: list[tuple], *, what: str,
                        hint: str) -> None:
    """Fail unless the layers' output shapes are `want`, in order (length included)."""
    from autograder.checks import CheckFailed

    shapes = [tuple(e["output_shape"]) for e in got]
    for index, (entry, shape) in enumerate(zip(got, want, strict=False)):
        if tuple(entry["output_shape"]) != tuple(shape):
            raise CheckFailed(
                f"{what}: the output of layer {index + 1} ({format_layer(entry)}) should have "
                f"shape {tuple(shape)}, got {tuple(entry['output_shape'])}.\n"
                f"Expected shapes: {want}\nGot:             {shapes}", hint)
    if len(shapes) != len(want):
        raise CheckFailed(f"{what}: expected {len(want)} layers (InputLayer not counted), got "
                          f"{len(shapes)}.\nExpected shapes: {want}\nGot:             {shapes}",
                          hint)


def linear_credit(value: float, floor: float, target: float) -> float:
    """0 at or below `floor`, 1 at or above `target`, linear in between."""
    return float(min(1.0, max(0.0, (value - floor) / (target - floor))))


def charged_seconds(worker_seconds: float, trusted_seconds: float,
                    overhead_allowance: float) -> float:
    """Training time to charge against the budget.

    The worker measures `train` alone, but it runs next to the student's code; the trusted
    side measures the whole task (data loading, building, saving too). The charge is the
    worker's figure, but never less than the trusted figure minus an allowance for the rest.
    """
    return max(float(worker_seconds), float(trusted_seconds) - overhead_allowance)
