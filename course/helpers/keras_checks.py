"""Trusted-side helpers of the Keras checks (02_mlp_baseline, 03_fashion_cnn): what a loaded
model computes, its layer signature and compile settings, time budgets and credit by accuracy.

A student's model is built or trained in the worker (`keras_tasks`), saved there to a `.keras`
file and loaded here with `safe_mode=True`; nothing here runs student code. Keras is imported
lazily, so collecting the checks stays fast.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from autograder.checks import CheckFailed, assert_close
from course.helpers import keras_archive, keras_feedback
from course.helpers.array_tasks import array_summary, call_and_return_inputs
from course.helpers.fashion_data import NUM_CLASSES, load_split, reference_preprocess
from course.helpers.keras_tasks import build_and_save, fit_small_batch_and_save, train_and_save

SAFE_MODEL_HINT = ("build the model from Keras' built-in layers only (no Lambda layers, "
                   "no custom classes), and return it from the function")

_ACTIVATION_LAYERS = {"ReLU": "relu", "Softmax": "softmax"}
# What one input of each builder looks like: the advice in translated Keras errors names it.
INPUT_SHAPES = {"build_mlp": (784,), "build_simple_cnn": (28, 28, 1), "build_cnn": (28, 28, 1)}


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


def predict(model: Any, x: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """The model's outputs for `x` in inference mode, as float64.

    Plain calls in batches rather than `model.predict`, which traces a new function for every
    model loaded in a session (and has TensorFlow warn about retracing).
    """
    return _predict(model, x, batch_size).astype(np.float64)


def _predict(model: Any, x: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """The model's outputs for `x` in their own dtype; a Keras error becomes feedback."""
    import keras

    try:
        outputs = [keras.ops.convert_to_numpy(model(x[i:i + batch_size], training=False))
                   for i in range(0, len(x), batch_size)]
    except (ValueError, TypeError) as exc:  # Keras' words about the student's model
        shape = "(" + ", ".join(["N", *map(str, x.shape[1:])]) + ")"
        explanation = keras_feedback.explain(str(exc), input_shape=x.shape[1:])
        raise CheckFailed(explanation or f"your model could not run on inputs of shape {shape}: "
                          f"{keras_feedback.keras_line(str(exc))}",
                          "build the model for the inputs the README gives") from None
    return np.concatenate(outputs)


def load_model(path: str | Path) -> Any:
    """Load a model the worker saved, refusing anything that could run code when loaded: its
    config.json is allow-listed first (keras_archive), then Keras loads it in safe mode.

    One expected Keras warning is silenced: an unbuilt optimizer's variables were not
    restored, and the grader never resumes training.
    """
    import warnings

    import keras

    keras_archive.check_safe(Path(path))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
        try:
            return keras.saving.load_model(str(path), safe_mode=True, compile=True)
        except Exception as exc:
            text = str(exc).strip()
            reason = text.splitlines()[0][:300] if text else type(exc).__name__
            raise CheckFailed(f"your model could not be loaded safely by the grader: {reason}",
                              SAFE_MODEL_HINT) from None


def accuracy_and_loss(model: Any, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Accuracy (argmax) and mean categorical cross-entropy of the model's outputs on (x, y)."""
    probabilities = predict(model, x)
    if probabilities.shape != y.shape:
        raise CheckFailed(f"the model should output one row of {y.shape[1]} probabilities per "
                          f"image, got outputs of shape {probabilities.shape}",
                          f"the last layer needs {y.shape[1]} units and a softmax")
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
    def strip(entry: dict[str, Any]) -> dict[str, Any]:
        chosen = keys or tuple(k for k in entry if k != "output_shape")
        return {k: entry.get(k) for k in ("type", *chosen)}

    chain_got = " -> ".join(format_layer(e) for e in got)
    chain_want = " -> ".join(format_layer(e) for e in want)
    bug = _double_softmax(got, what)
    for index, (g, w) in enumerate(zip(got, want, strict=False)):
        if strip(g) != strip(w):
            if (not bug and w.get("activation") == "softmax" and g.get("activation") == "linear"
                    and g["type"] == w["type"]):
                bug = (f"{what}: the softmax is missing: layer {index + 1} outputs logits.\n")
            raise CheckFailed(
                f"{bug}{what}: layer {index + 1} should be {format_layer(w)}, got "
                f"{format_layer(g)}.\nExpected: {chain_want}\nGot:      {chain_got}", hint)
    if len(got) != len(want):
        raise CheckFailed(
            f"{bug}{what}: expected {len(want)} layers (InputLayer not counted), got "
            f"{len(got)}.\nExpected: {chain_want}\nGot:      {chain_got}", hint)


def _double_softmax(signature: list[dict[str, Any]], what: str) -> str:
    """A first line naming a softmax applied twice, or ""."""
    if keras_feedback.double_softmax(signature):
        return f"{what}: softmax is applied twice (a softmax after a layer that has one).\n"
    return ""


def check_output_shapes(got: list[dict[str, Any]], want: list[tuple], *, what: str,
                        hint: str) -> None:
    """Fail unless the layers' output shapes are `want`, in order (length included)."""
    shapes = [tuple(e["output_shape"]) for e in got]
    bug = _double_softmax(got, what)
    for index, (entry, shape) in enumerate(zip(got, want, strict=False)):
        if tuple(entry["output_shape"]) != tuple(shape):
            raise CheckFailed(
                f"{bug}{what}: the output of layer {index + 1} ({format_layer(entry)}) should have "
                f"shape {tuple(shape)}, got {tuple(entry['output_shape'])}.\n"
                f"Expected shapes: {want}\nGot:             {shapes}", hint)
    if len(shapes) != len(want):
        raise CheckFailed(f"{bug}{what}: expected {len(want)} layers (InputLayer not counted), "
                          f"got {len(shapes)}.\nExpected shapes: {want}\nGot:             "
                          f"{shapes}", hint)


def linear_credit(value: float, floor: float, target: float) -> float:
    """0 at or below `floor`, 1 at or above `target`, linear in between."""
    return float(min(1.0, max(0.0, (value - floor) / (target - floor))))


def saved_model(data: Any, path: Path) -> Any:
    """Write the `.keras` bytes a worker task returned to `path` and load them safely."""
    if not isinstance(data, bytes):
        raise CheckFailed(f"the grader expected a saved Keras model, got {type(data).__name__}",
                          SAFE_MODEL_HINT)
    path.write_bytes(data)
    return load_model(path)


def built_model(cache: dict, student: Any, folder: Any, builder: str, *args: Any,
                **kwargs: Any) -> Any:
    """`builder(*args, **kwargs)` run in the worker, saved there and loaded here, once.

    folder: a callable returning a fresh directory (pytest's tmp_path_factory.mktemp).
    """
    def build() -> Any:
        data = keras_feedback.run(student, build_and_save, builder, *args, timeout=120,
                                  doing=f"{builder}()", input_shape=INPUT_SHAPES[builder],
                                  **kwargs)
        return saved_model(data, folder(builder) / "built.keras")

    key = (str(student.path), builder, repr(args), repr(sorted(kwargs.items())))
    return cached(cache, key, build)


def trained_model(cache: dict, student: Any, folder: Any, builder: str, *,
                  channels_last: bool, seed: int, budget_seconds: float,
                  limit_seconds: float, overhead_allowance: float) -> dict[str, Any]:
    """`builder()` trained by the student's `train` in the worker, once per session.

    The training data (the grader's preprocessing of all 60,000 images) crosses to the worker
    by value. The time charged is the grader's own clock around the whole task, minus
    `overhead_allowance` for sending the data, building and saving: nothing the worker says
    about its time counts. Returns {"path" of the trained model here, "returned",
    "returned_history", "inputs_changed" (what `changed_inputs` finds), "charged_seconds",
    "budget_seconds"}. A run longer than limit_seconds is killed and fails with a message
    naming the budget.
    """
    def train() -> dict[str, Any]:
        x, y = load_split("train", channels_last=channels_last)
        try:
            info = keras_feedback.run(student, train_and_save, builder, x, y, seed=seed,
                                      timeout=limit_seconds, cpu_timeout=None,  # wall time
                                      doing=f"{builder}() then train(model, x, y)",
                                      input_shape=x.shape[1:])
        except TimeoutError:
            raise CheckFailed(f"building and training the model did not finish within "
                              f"{limit_seconds:.0f} s (the training budget is "
                              f"{budget_seconds:.0f} s)",
                              "train for fewer epochs or use a larger batch size") from None
        if not isinstance(info, dict) or not isinstance(info.get("model"), bytes):
            raise CheckFailed("the worker did not send back a trained model",
                              "return the model from build_*() and train it in place")
        path = folder(f"{builder}_trained") / "trained.keras"
        path.write_bytes(info["model"])
        charged = max(0.0, student.last_call_seconds - overhead_allowance)
        return {"path": path, "returned": str(info.get("returned")),
                "returned_history": info.get("returned_history") is True,
                "inputs_changed": changed_inputs(info.get("inputs_after"), {"x": x, "y": y}),
                "charged_seconds": charged, "budget_seconds": budget_seconds}

    return cached(cache, (str(student.path), builder, seed), train)


def check_within_budget(info: dict[str, Any]) -> None:
    """Fail when the charged training time is over the budget."""
    if info["charged_seconds"] > info["budget_seconds"]:
        raise CheckFailed(f"train() took {info['charged_seconds']:.0f} s; the time budget is "
                          f"{info['budget_seconds']:.0f} s, so the performance points are lost",
                          "train for fewer epochs or use a larger batch size (the README says "
                          "what the budget means on a slower computer)")


def budget_used(info: dict[str, Any]) -> str:
    """How much of the budget train() used, with a warning past half of it: a run that passes
    here with little to spare fails on a grading machine somewhat slower or busier."""
    charged, budget = info["charged_seconds"], info["budget_seconds"]
    used = f"train() took {charged:.0f} s of a {budget:.0f} s budget"
    if charged > budget / 2:
        used += (f"\nwarning: {charged:.0f} s of {budget:.0f} s: on a slower machine this "
                 "fails; reduce epochs or the model size")
    return used


def check_history_within_budget(info: dict[str, Any]) -> str:
    """Fail unless train() kept to the budget, returned a History and left its x and y as they
    were; say how long it took."""
    check_within_budget(info)
    if not info["returned_history"]:
        raise CheckFailed(f"train() should return the History of model.fit, got "
                          f"{info['returned']}", "return model.fit(...)")
    if info["inputs_changed"]:
        raise CheckFailed("\n".join(f"train() modified {change}"
                                    for change in info["inputs_changed"]),
                          "work on a copy (x = x / 255, not x /= 255; x = x[order], not "
                          "np.random.shuffle(x)): x and y belong to the caller, who may use "
                          "them again")
    return budget_used(info)


def changed_inputs(reported: Any, originals: dict[str, np.ndarray]) -> list[str]:
    """What train() did to each of its array arguments, e.g. "x in place: ...", compared here
    from the `array_summary` the worker sent back for each and the summary of the trusted
    copy; [] when none changed.

    A report from next to the student's code: it may only ever cost points. A summary that is
    missing or malformed counts as a change (only a replaced grader task sends one).
    """
    reported = reported if isinstance(reported, dict) else {}
    found = []
    for name, original in originals.items():
        change = _summary_change(reported.get(name), array_summary(original), name)
        if change:
            found.append(f"{name} in place: {change}")
    return found


def _summary_change(got: Any, want: dict[str, Any], name: str) -> str | None:
    """How the array summarised by `got` differs from the one summarised by `want`, in words;
    None when they agree."""
    unreadable = "the grader could not read it back after the call"
    if not isinstance(got, dict):
        return unreadable
    shape, dtype = got.get("shape"), got.get("dtype")
    if not (isinstance(shape, tuple) and all(type(n) is int for n in shape)
            and isinstance(dtype, str)):
        return unreadable
    if shape != want["shape"]:
        return (f"its shape went from {want['shape']} to {shape} "
                f"({name}.shape = ... or {name}.resize(...))")
    if dtype != want["dtype"]:
        return f"its dtype went from {want['dtype']} to {dtype[:40]}"
    keys = ("row_sums", "row_squares", "row_weighted_sums", "column_sums")
    try:
        values = {key: np.asarray(got[key], dtype=np.float64) for key in keys}
    except (KeyError, TypeError, ValueError):
        return unreadable
    if any(values[key].shape != want[key].shape for key in keys):
        return unreadable

    def close(a: np.ndarray, b: np.ndarray, rtol: float = 1e-9) -> bool:
        # both sides run the same code on the same bytes; the default tolerance only absorbs
        # the order of float64 additions, far below one grey level (1/255)
        return bool(np.allclose(a, b, rtol=rtol, atol=1e-9, equal_nan=True))

    if all(close(values[key], want[key]) for key in keys):
        return None
    if (all(close(np.sort(values[key]), np.sort(want[key])) for key in keys[:3])
            and close(values["column_sums"], want["column_sums"])):
        return (f"its rows were reordered (np.random.shuffle({name}) or {name}[:] = "
                f"{name}[order])")
    if close(values["row_sums"], want["row_sums"]) and close(values["row_squares"],
                                                             want["row_squares"]):
        return "values moved within its rows (an image flipped or shifted in place)"
    total = float(np.sum(want["row_sums"]))
    factor = float(np.sum(values["row_sums"])) / total if total else 0.0
    # a float32 array scaled in place is rounded to float32 again: relative errors of 1e-7
    if (factor != 0 and abs(factor - 1) > 1e-4
            and close(values["row_sums"], factor * want["row_sums"], rtol=1e-5)
            and close(values["row_squares"], factor ** 2 * want["row_squares"], rtol=1e-5)):
        scaled = (f"divided by {1 / factor:.4g} (e.g. {name} /= {1 / factor:.4g})"
                  if abs(factor) < 1 else f"multiplied by {factor:.4g}")
        return f"every value was {scaled}"
    return f"its values changed ({name} -= ..., {name}[...] = ..., or similar)"


def check_preprocess_leaves_inputs(student: Any, images: np.ndarray, labels: np.ndarray, *,
                                   channels_last: bool) -> None:
    """Fail unless the student's preprocess gives the right (x, y) and leaves its arguments as
    they were.

    The worker sends back the arguments as they are after the call (only there can a change
    be seen); the values must be right too, so a stub that touches nothing earns nothing.
    """
    result, after = preprocess_and_inputs(student, images, labels,
                                          input_shape=(28, 28, 1) if channels_last else (784,))
    want_x, want_y = reference_preprocess(images, labels, channels_last=channels_last)
    hint = "first make preprocess return the right x and y (see the checks above)"
    if not (isinstance(result, tuple | list) and len(result) == 2):
        raise CheckFailed(f"preprocess should return a tuple (x, y), got "
                          f"{type(result).__name__}", hint)
    assert_close(result[0], want_x, atol=1e-6, what="x = preprocess(images, labels)[0]",
                 hint=hint)
    assert_close(result[1], want_y, atol=0, what="y = preprocess(images, labels)[1]", hint=hint)
    changed = modified_inputs(after, images, labels)
    if changed:
        raise CheckFailed(f"preprocess modified its input(s): {', '.join(changed)}",
                          "work on a converted copy (astype returns a new array); never "
                          "assign into the arrays you are given")


def preprocess_and_inputs(student: Any, images: np.ndarray, labels: np.ndarray, *,
                          input_shape: tuple[int, ...]) -> tuple[Any, dict[str, Any]]:
    """preprocess(images, labels) in the worker: its result and its arguments after the call."""
    return keras_feedback.run(student, call_and_return_inputs, "preprocess", images, labels,
                              doing="preprocess(images, labels)", input_shape=input_shape)


def modified_inputs(after: Any, images: np.ndarray, labels: np.ndarray) -> list[str]:
    """Which of images and labels the worker reports changed by the call (a report from next to
    the student's code: it may only ever cost points, together with wrong values)."""
    after = after if isinstance(after, dict) else {}
    originals = {"arg0": ("images", images), "arg1": ("labels", labels)}
    return [name for key, (name, original) in originals.items()
            if not (isinstance(after.get(key), np.ndarray)
                    and np.array_equal(after[key], original))]


def check_parameter_budget(model: Any, budget: int, *, what: str) -> None:
    """Fail when `model` has more parameters than `budget` (e.g. the model that was trained,
    whatever the builder returned when it was inspected)."""
    count = int(model.count_params())
    if count > budget:
        raise CheckFailed(f"{what} has {count:,} parameters; the budget is {budget:,}",
                          "the builder must return the same model every time, within the "
                          "parameter budget")


def check_probabilities(model: Any, x: np.ndarray, *, what: str, hint: str,
                        dtype: Any = None) -> None:
    """Fail unless the model maps x to one probability distribution per row (K = 10), of
    `dtype` when given (the dtype the assignment documents)."""
    outputs = _predict(model, x)
    probabilities = outputs.astype(np.float64)
    want = (len(x), NUM_CLASSES)
    if probabilities.shape != want:
        raise CheckFailed(f"{what}: for x of shape {x.shape} the output should have shape "
                          f"{want}, got {probabilities.shape}", hint)
    bug = keras_feedback.output_bug(probabilities)
    bug = f"{what}: {bug}.\n" if bug else ""
    if not np.all(np.isfinite(probabilities)) or probabilities.min() < 0:
        raise CheckFailed(f"{bug}{what}: the outputs should be finite and non-negative, got "
                          f"values in [{probabilities.min():.3g}, {probabilities.max():.3g}]",
                          hint)
    try:
        assert_close(probabilities.sum(axis=1), np.ones(len(x)), atol=1e-4,
                     what=f"{what}: the sum of each row of the output", hint=hint)
    except CheckFailed as exc:
        raise CheckFailed(f"{bug}{exc.message}", exc.hint) from None
    if dtype is not None and outputs.dtype != np.dtype(dtype):
        raise CheckFailed(f"{what}: the outputs should be {np.dtype(dtype)}, got {outputs.dtype}",
                          "keep Keras' default float32 (no dtype= or mixed-precision policy)")


def check_learns_small_batch(student: Any, folder: Any, builder: str, *, channels_last: bool,
                             images: int, epochs: int, batch_size: int, seed: int,
                             min_accuracy: float, hint: str) -> str:
    """Fit `builder()` with Keras' fit on the first `images` training images in the worker.

    Fails unless the loss (computed here, in inference mode) goes down and the accuracy on
    those images reaches min_accuracy. Returns a one-line summary for a passing check.
    """
    x, y = load_split("train", channels_last=channels_last, limit=images)
    saved = keras_feedback.run(student, fit_small_batch_and_save, builder, x, y,
                               epochs=epochs, batch_size=batch_size, seed=seed, timeout=240,
                               cpu_timeout=None, doing=f"Keras' model.fit on your {builder}()",
                               input_shape=x.shape[1:])
    if not (isinstance(saved, tuple) and len(saved) == 2):
        raise CheckFailed("the worker did not send back the two saved models", hint)
    where = folder(f"{builder}_small_batch")
    _, loss_before = accuracy_and_loss(saved_model(saved[0], where / "before.keras"), x, y)
    trained = saved_model(saved[1], where / "after.keras")
    accuracy, loss_after = accuracy_and_loss(trained, x, y)
    done = f"after {epochs} epochs of model.fit on {images} training images"
    failure = None
    if not loss_after < loss_before:
        failure = (f"{done} the cross-entropy should go down; it went from "
                   f"{loss_before:.4f} to {loss_after:.4f}")
    elif accuracy < min_accuracy:
        failure = (f"{done} the accuracy on those images should be >= {min_accuracy:.0%}, got "
                   f"{accuracy:.1%}")
    if failure:
        bug = (keras_feedback.loss_bug(compile_settings(trained),
                                       last_activation(trained))
               or keras_feedback.output_bug(predict(trained, x)))
        raise CheckFailed(f"{bug}.\n{failure}" if bug else failure, hint)
    return (f"accuracy {accuracy:.1%} on the {images} images {done.split(' of ')[0]}; "
            f"loss {loss_before:.3f} -> {loss_after:.3f}")


def last_activation(model: Any) -> str | None:
    """The activation of the model's last layer (after merging activation layers)."""
    signature = layer_signature(model)
    return signature[-1].get("activation") if signature else None


def accuracy_credit(info: dict[str, Any], *, channels_last: bool, floor: float,
                    target: float, hint: str,
                    check_model: Callable[[Any], None] | None = None) -> tuple[float, str]:
    """Test accuracy of a trained model, computed here on all 10,000 test images.

    `check_model(model)` runs first on the very model that is evaluated (e.g. its parameter
    budget), so a builder that returns one model when inspected and another when trained
    gains nothing. Returns (fraction of the points, message); fails at or below the floor.
    """
    check_within_budget(info)
    model = load_model(Path(info["path"]))
    if check_model is not None:
        check_model(model)
    x_test, y_test = _test_split(channels_last)
    accuracy, _ = accuracy_and_loss(model, x_test, y_test)
    fraction = linear_credit(accuracy, floor, target)
    chance = 1 / NUM_CLASSES
    message = ("the trained model learned nothing from the images (test accuracy near chance, "
               f"{chance:.0%}): does train() fit the x and y it is given?\n"
               if accuracy < 2 * chance else "")
    message += (f"test accuracy {accuracy:.2%} on 10,000 images (0 points at {floor:.1%}, "
                f"full points at {target:.1%}); {model.count_params():,} parameters; "
                f"{budget_used(info)}")
    if fraction == 0.0:
        raise CheckFailed(message, hint)
    return fraction, message


_TEST_SPLITS: dict[bool, tuple[np.ndarray, np.ndarray]] = {}


def _test_split(channels_last: bool) -> tuple[np.ndarray, np.ndarray]:
    if channels_last not in _TEST_SPLITS:
        _TEST_SPLITS[channels_last] = load_split("test", channels_last=channels_last)
    return _TEST_SPLITS[channels_last]
