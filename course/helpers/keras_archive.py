"""A submitted `.keras` file, inspected before anything in it is deserialised.

A `.keras` file is a zip archive: `config.json` (the architecture), `metadata.json` and
`model.weights.h5`. Keras' `safe_mode` refuses Python lambdas, but it still imports any class
the config names from a registered or importable module. So the grader reads `config.json`
itself first and refuses every class outside Keras' own built-in modules, every `Lambda`-like
layer and every registered custom object, with an explanation, before Keras sees the file.
Only then is it loaded with `safe_mode=True, compile=False`.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

from autograder.checks import CheckFailed

MAX_ARCHIVE_BYTES = 64 * 2**20  # a 1,000,000-parameter model is about 4 MB in float32
MAX_CONFIG_BYTES = 4 * 2**20
MEMBERS = {"config.json", "metadata.json", "model.weights.h5"}
# Where Keras' built-in layers, ops, initializers, regularizers, constraints, losses,
# optimizers, metrics, dtype policies and models are serialised from.
ALLOWED_MODULES = ("keras", "keras.layers", "keras.initializers", "keras.regularizers",
                   "keras.constraints", "keras.losses", "keras.optimizers",
                   "keras.optimizers.schedules", "keras.metrics",
                   "keras.src.ops.numpy", "keras.src.ops.nn", "keras.src.ops.math",
                   "keras.src.ops.core", "keras.src.models.functional",
                   "keras.src.models.sequential", "keras.models")
# Built-in all the same, but they run code or load other files: never in a submission.
REFUSED_CLASSES = {"Lambda", "TFSMLayer", "TorchModuleWrapper", "JaxLayer", "FlaxLayer",
                   "__lambda__"}
# Values Keras writes without a module (tensors, arrays, slices): data, not classes.
PLAIN_VALUES = {"__keras_tensor__", "__tensor__", "__numpy__", "__bytes__", "__slice__",
                "__ellipsis__", "__typespec__"}
HINT = ("build the model from Keras' built-in layers and ops only (no Lambda layer, no class "
        "or function of your own), then save it with model.save('submission/model.keras')")


def read_config(path: Path) -> dict[str, Any]:
    """The archive's config.json, after checking the archive's size and members."""
    if path.stat().st_size > MAX_ARCHIVE_BYTES:
        raise CheckFailed(f"{path.name} is {path.stat().st_size / 2**20:.0f} MB; a model "
                          f"within the parameter budget is a few MB", HINT)
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            if not names <= MEMBERS | {n for n in names if n.startswith("assets/")}:
                raise CheckFailed(f"{path.name} holds unexpected files "
                                  f"{sorted(names - MEMBERS)}", HINT)
            info = archive.getinfo("config.json")
            if info.file_size > MAX_CONFIG_BYTES:
                raise CheckFailed(f"{path.name}'s config.json is too large", HINT)
            return json.loads(archive.read(info))
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise CheckFailed(f"{path.name} is not a complete .keras file ({exc}); save the "
                          "trained model again with model.save(...)", HINT) from None


def refused_objects(config: Any) -> list[str]:
    """Every object in the config that is not one of Keras' built-ins, described."""
    found: list[str] = []
    stack = [config]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack += node
        elif isinstance(node, dict):
            stack += node.values()
            if "class_name" in node:
                found += _refusal(node)
    return sorted(set(found))


def _refusal(node: dict[str, Any]) -> list[str]:
    name, module = node.get("class_name"), node.get("module")
    registered = node.get("registered_name")
    if name in REFUSED_CLASSES:
        return [f"a {name.strip('_')} layer (it runs code of its own when loaded)"]
    if registered not in (None, name):
        return [f"the registered custom object {registered!r}"]
    if module is None and name not in PLAIN_VALUES:
        return [f"{name} with no module (a class of your own?)"]
    if module is not None and module not in ALLOWED_MODULES:
        return [f"{name} from {module!r} (not one of Keras' built-in modules)"]
    return []


def check_safe(path: Path) -> None:
    """Fail, naming what is wrong, unless the archive holds only Keras' built-ins."""
    refused = refused_objects(read_config(path))
    if refused:
        raise CheckFailed(f"{path.name} was not loaded: it uses {'; '.join(refused)}", HINT)


def load_safely(path: Path) -> Any:
    """check_safe, then Keras' own loader with safe_mode=True and compile=False."""
    import keras

    check_safe(path)
    try:
        return keras.saving.load_model(str(path), safe_mode=True, compile=False)
    except Exception as exc:  # a file Keras cannot read: the student's to fix
        text = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
        raise CheckFailed(f"{path.name} could not be loaded: {type(exc).__name__} {text}",
                          HINT) from None
