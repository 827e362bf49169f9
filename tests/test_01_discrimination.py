"""Do the checks of 01_kernel_convolution tell correct submissions from plausible buggy ones?

Each submission is graded end to end by the CLI in a subprocess, as a student would be, and
judged from its results.json: the solution and two independent correct implementations score
100 with no message at all (never a diagnosis), the released skeleton scores 0 with every
check saying "not implemented", and every buggy variant of tests/fixtures/conv_variants/buggy.py
fails the checks named for it, its first failed check's message naming the bug.
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
    assert all(t["output"] == "" for t in tests.values()), summary(tests)


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
    """Does each plausible bug cost points exactly on the checks written to catch it, and does
    the first failed check's message name the bug?"""
    source = BUGGY.apply(SOLUTION.read_text(encoding="utf-8"), variant)
    tests = grade(source, tmp_path)
    lost = {name: t["max_score"] - t["score"] for name, t in tests.items()
            if t["score"] < t["max_score"]}
    print(f"{variant.name} ({variant.bug}): loses {sum(lost.values()):g} points on {lost}")
    missed = [name for name in variant.caught_by if name not in lost]
    assert not missed, (f"{variant.name} ({variant.bug}) was not caught by {missed}; "
                        f"it lost points on:\n{summary(tests)}")
    first = next(t for t in tests.values() if t["score"] < t["max_score"])  # in check order
    first_line = first["output"].splitlines()[0] if first["output"] else ""
    # one line per variant for the diagnosis table (pytest -s prints it)
    print(f"FIRST|{variant.name}|{first['number']} {first['name']}|{first_line}")
    leaked = [name for name, t in tests.items() if "call_and_" in t["output"]]
    assert not leaked, f"{variant.name}: a grader task's name reaches the student in {leaked}"
    absent = [words for words in variant.says if words not in first["output"]]
    assert not absent, (f"{variant.name}: the first failed check, {first['number']} "
                        f"{first['name']!r}, does not say {absent}:\n{first['output']}")


def test_variant_patches_apply_to_the_current_solution():
    """Does every buggy variant still apply to the solution (fast, no grading)?"""
    solution = SOLUTION.read_text(encoding="utf-8")
    names = set(check_titles(ASSIGNMENT))
    for variant in BUGGY.VARIANTS:
        patched = BUGGY.apply(solution, variant)
        assert patched != solution
        compile(patched, f"{variant.name}.py", "exec")
        assert set(variant.caught_by) <= names, variant.name
        assert variant.says and all(variant.says), variant.name
    assert len(BUGGY.VARIANTS) >= 10
    for name in ALTERNATIVES:
        assert (VARIANTS_DIR / f"{name}.py").is_file()


STUB_WRAPPER = '''

def _zeros_like_the_result(function):
    def stub(*args, **kwargs):
        result = function(*args, **kwargs)  # argument checks and dtypes kept, values dropped
        if isinstance(result, tuple):
            return tuple(np.zeros_like(item) for item in result)
        return np.zeros_like(result) if isinstance(result, np.ndarray) else result
    return stub


for _name in ("correlate2d", "convolve2d", "conv2d", "max_pool2d", "avg_pool2d", "relu",
              "edge_magnitude", "box_blur", "sharpen", "sobel"):
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


def _course_module(name: str) -> ModuleType:
    return importlib.import_module(f"course.{ASSIGNMENT}.{name}")


def test_the_bug_catalogue_builds_on_a_right_conv2d_and_every_bug_changes_the_result():
    """Does the catalogue's own conv2d equal Keras' (so a bug's output is the bug alone), and
    does every conv2d bug give something else than the right result on a case where it
    applies (an entry equal to the right result could never be named)?"""
    import numpy as np

    refs, bugs = _course_module("references"), _course_module("bugs")
    rng = np.random.default_rng(7)
    cases = [refs.conv_case(rng, 2, 7, 9, 3, 3, 2, 3, stride=(2, 1), padding="same", bias=True),
             refs.conv_case(rng, 2, 5, 7, 2, 3, 3, 3, stride=1, bias=True),
             refs.conv_case(rng, 2, 8, 8, 2, 2, 4, 4, stride=3, bias=True)]
    named = set()
    for case in cases:
        args = (case["x"], case["kernel"])
        kwargs = {"bias": case["bias"], "stride": case["stride"], "padding": case["padding"]}
        right = refs.ref_conv2d(*args, case["bias"], case["stride"], case["padding"])
        assert np.allclose(bugs.right_conv(*args, **kwargs), right, atol=1e-4)
        for bug in bugs.CONV2D:
            try:
                output = bug.output(*args, **kwargs)
            except ValueError:
                continue
            if not (np.shape(output) == right.shape and np.allclose(output, right, atol=1e-4)):
                named.add(bug.says)
    assert named == {bug.says for bug in bugs.CONV2D}
