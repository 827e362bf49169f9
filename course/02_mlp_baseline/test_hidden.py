"""Hidden checks of assignment 02 (5 points): graded by the instructor, never shipped to students.

Every check in a test_hidden.py is hidden: when it fails the student sees its title and
hint, never its inputs.
"""

from __future__ import annotations

from typing import Any

import pytest

from course.helpers import keras_checks

_models: dict[Any, Any] = {}


@pytest.mark.points(5)
@pytest.mark.timeout(120)
def test_build_mlp_uses_its_arguments(student, tmp_path_factory):
    """build_mlp(hidden_units, dropout, num_classes) follows its arguments."""
    model = keras_checks.built_model(_models, student, tmp_path_factory.mktemp, "build_mlp",
                                     hidden_units=(64, 32), dropout=0.5, num_classes=3)
    want = [{"type": "Dense", "units": 64, "activation": "relu"},
            {"type": "Dropout", "rate": 0.5},
            {"type": "Dense", "units": 32, "activation": "relu"},
            {"type": "Dropout", "rate": 0.5},
            {"type": "Dense", "units": 3, "activation": "softmax"}]
    keras_checks.check_signature(keras_checks.layer_signature(model), want,
                                 what="build_mlp(hidden_units=(64, 32), dropout=0.5, "
                                      "num_classes=3)",
                                 hint="use hidden_units, dropout and num_classes instead of "
                                      "fixed numbers; one Dense + Dropout per hidden layer")
