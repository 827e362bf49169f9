"""The course's own content: one folder per assignment (its checks and references) and helpers.

    course/<id>/test_public.py   the checks students receive (points, hints)
    course/<id>/test_hidden.py   the hidden checks: instructor-side only, dropped by the export
    course/<id>/*.py             that assignment's trusted references, shared by both files
    course/helpers/              helpers shared by several assignments (Keras model facts,
                                 worker-side tasks, scoring by accuracy, the grader's data)

The assignment folders start with a digit, so they are imported by name with `sibling`.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType


def sibling(check_file: str, name: str) -> ModuleType:
    """The module `name` in the same assignment folder as `check_file` (e.g. references)."""
    folder = Path(check_file).resolve().parent
    return importlib.import_module(f"{__name__}.{folder.name}.{name}")
