"""Do the checks of 01_kernel_convolution tell correct submissions from plausible buggy ones?

Each submission is graded end to end by the CLI in a subprocess, as a student would be, and
judged from its results.json: the solution and two independent correct implementations score
100, the released skeleton scores 0 with every check saying "not implemented", and every buggy
variant of tests/fixtures/conv_variants/buggy.py fails the checks named for it.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from course_checks import check_titles

ROOT = Path(__file__).resolve().parent.parent
ASSIGNMENT = "01_kernel_convolution"
SOLUTION = ROOT / "solutions" / ASSIGNMENT / "convolution.py"
SKELETON = ROOT / "assignments" / ASSIGNMENT / "convolution.py"
VARIANTS_DIR = ROOT / "tests" / "fixtures" / "conv_variants"
ALTERNATIVES = ("alt_einsum", "alt_offset_loop")

GRADE_TIMEOUT_S = 540


def _load_buggy() -> ModuleType:
    spec = importlib.util.spec_from_file_location("conv_variants_buggy", VARIANTS_DIR / "buggy.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look the module up while building the class
    spec.loader.exec_module(module)
    return module


BUGGY = _load_buggy()


def grade(module_source: str, tmp_path: Path) -> dict[str, dict]:
    """Grade one convolution.py through the CLI; its results.json tests by check function name."""
    submission = tmp_path / "submission"
    (submission / ASSIGNMENT).mkdir(parents=True)
    (submission / ASSIGNMENT / "convolution.py").write_text(module_source, encoding="utf-8")
    out = tmp_path / "grading"
    done = subprocess.run(
        [sys.executable, "-m", "autograder", "grade", ASSIGNMENT, "--submission",
         str(submission), "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=GRADE_TIMEOUT_S)
    assert done.returncode == 0, f"the grader failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    by_title = {test["name"]: test for test in results["tests"]}
    tests = {name: by_title[title] for name, title in check_titles(ASSIGNMENT).items()}
    assert len(tests) == len(results["tests"]), "every check must appear once in results.json"
    return tests


def summary(tests: dict[str, dict]) -> str:
    return "\n".join(f"  {name}: {t['score']:g}/{t['max_score']:g} {t['output'][:200]!r}"
                     for name, t in tests.items() if t["score"] < t["max_score"])


@pytest.mark.slow
@pytest.mark.timeout(GRADE_TIMEOUT_S + 60)
@pytest.mark.parametrize("name", ["solution", *ALTERNATIVES])
def test_correct_implementations_score_100(name, tmp_path):
    """Do the solution and two independent correct implementations get full marks?"""
    path = SOLUTION if name == "solution" else VARIANTS_DIR / f"{name}.py"
    tests = grade(path.read_text(encoding="utf-8"), tmp_path)
    assert sum(t["score"] for t in tests.values()) == 100, f"{name} lost points:\n{summary(tests)}"
    assert all(t["status"] == "passed" for t in tests.values())


@pytest.mark.slow
@pytest.mark.timeout(GRADE_TIMEOUT_S + 60)
def test_skeleton_scores_0_and_every_check_says_not_implemented(tmp_path):
    """Does the released skeleton score 0, every check failing on NotImplementedError?"""
    tests = grade(SKELETON.read_text(encoding="utf-8"), tmp_path)
    for name, test in tests.items():
        assert test["score"] == 0 and test["status"] == "failed", name
        assert "NotImplementedError" in test["output"], f"{name}: {test['output']!r}"


@pytest.mark.slow
@pytest.mark.timeout(GRADE_TIMEOUT_S + 60)
@pytest.mark.parametrize("variant", BUGGY.VARIANTS, ids=lambda v: v.name)
def test_buggy_variant_fails_the_checks_that_target_it(variant, tmp_path):
    """Does each plausible bug cost points exactly on the checks written to catch it?"""
    source = BUGGY.apply(SOLUTION.read_text(encoding="utf-8"), variant)
    tests = grade(source, tmp_path)
    lost = {name: t["max_score"] - t["score"] for name, t in tests.items()
            if t["score"] < t["max_score"]}
    print(f"{variant.name} ({variant.bug}): loses {sum(lost.values()):g} points on {lost}")
    missed = [name for name in variant.caught_by if name not in lost]
    assert not missed, (f"{variant.name} ({variant.bug}) was not caught by {missed}; "
                        f"it lost points on:\n{summary(tests)}")


def test_variant_patches_apply_to_the_current_solution():
    """Does every buggy variant still apply to the solution (fast, no grading)?"""
    solution = SOLUTION.read_text(encoding="utf-8")
    names = set(check_titles(ASSIGNMENT))
    for variant in BUGGY.VARIANTS:
        patched = BUGGY.apply(solution, variant)
        assert patched != solution
        compile(patched, f"{variant.name}.py", "exec")
        assert set(variant.caught_by) <= names, variant.name
    assert len(BUGGY.VARIANTS) >= 10
    for name in ALTERNATIVES:
        assert (VARIANTS_DIR / f"{name}.py").is_file()


STUB_WRAPPER = '''

def _zeros_like_the_result(function):
    def stub(*args, **kwargs):
        result = function(*args, **kwargs)  # argument checks and dtypes kept, values dropped
        return np.zeros_like(result) if isinstance(result, np.ndarray) else result
    return stub


for _name in ("correlate2d", "convolve2d", "conv2d", "max_pool2d", "avg_pool2d", "relu",
              "edge_magnitude"):
    globals()[_name] = _zeros_like_the_result(globals()[_name])
'''


@pytest.mark.slow
@pytest.mark.timeout(GRADE_TIMEOUT_S + 60)
def test_a_stub_of_zeros_earns_nothing_on_the_property_checks(tmp_path):
    """Does a stub that keeps the argument checks and the dtypes but returns zeros earn
    nothing on the dtype, inputs-unchanged and argument-error checks?"""
    tests = grade(SOLUTION.read_text(encoding="utf-8") + STUB_WRAPPER, tmp_path)
    for name in ("test_float32_stays_float32", "test_inputs_not_modified",
                 "test_invalid_arguments_raise_value_error"):
        assert tests[name]["score"] == 0, (name, tests[name]["output"])
