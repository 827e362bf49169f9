"""What runs inside Gradescope's image: `python -m autograder.gradescope_run run|datasets ID ...`.

`run` (called by run_autograder for every submission): finds each assignment's files in the
upload, copies them into a private folder laid out as the grader wants (`<id>/<module>.py`),
runs the official grading (`python -m autograder grade --official`, hidden checks, sandbox)
with its results going straight to `<root>/results/`, and leaves a valid results.json whatever
happens: a placeholder before grading starts, a message if the grader dies without one.

`datasets` (called by setup.sh at image build): loads every dataset the assignments name,
which downloads, verifies and caches it under the course's `datasets/`.

Two upload layouts are recognised, each assignment on its own:
- a repository (Gradescope's GitHub or Bitbucket submission, or a zip of one): the folder
  `assignments/<id>/` (or `<id>/`), possibly inside a single top-level folder;
- the files of one assignment (e.g. `convolution.py` alone): its module at the top level.
  Gradescope's upload drops folders, so `model.keras` at the top level is taken as
  `submission/model.keras`, where the challenge's checks look for it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path

from autograder import registry
from autograder.registry import Assignment, Course

# A file that may be uploaded at the top level -> where the checks expect it in the folder.
LOOSE_FILES = {"model.keras": "submission/model.keras"}
DATASET_LOADERS = {"fashion-mnist": "load_fashion_mnist", "cifar-10": "load_cifar10"}
SHOWN_NAMES = 20  # top-level names listed in the message when nothing is found
PLACEHOLDER = ("The grading did not finish: the autograder was stopped (most likely by "
               "Gradescope's time or memory limit) before its first check ended. This is a "
               "problem on the course staff side; tell your instructor.")
CRASHED = ("The grader stopped without writing results ({reason}): a problem on "
           "the course staff side, not with your submission. Your instructor can see why in "
           "the autograder output.")


def locate(upload: Path, assignment: Assignment) -> tuple[Path | None, str]:
    """Where `assignment`'s files are in `upload`, and a sentence saying what was found."""
    bases = [upload, *_single_folder(upload)]
    for base in bases:
        for folder in (base / "assignments" / assignment.id, base / assignment.id):
            if folder.is_dir() and not folder.is_symlink():
                return folder, (f"{assignment.id}: graded {folder.relative_to(upload)}/ of your "
                                "upload (a repository).")
    for base in bases:
        module = base / assignment.module_file
        if module.is_file() and not module.is_symlink():
            return base, (f"{assignment.id}: graded {module.relative_to(upload)} and the files "
                          "beside it (the files of one assignment).")
    names = sorted(p.name for p in upload.iterdir() if not p.name.startswith("."))
    shown = ", ".join(names[:SHOWN_NAMES]) + (", ..." if len(names) > SHOWN_NAMES else "")
    return None, (f"{assignment.id}: NOT FOUND in your upload, so it scores 0. Upload "
                  f"{assignment.module_file} itself (with the files the assignment asks for), "
                  f"or your whole repository with assignments/{assignment.id}/"
                  f"{assignment.module_file}. Your upload holds: {shown or 'nothing'}.")


def _single_folder(upload: Path) -> list[Path]:
    """A zip of a folder unpacks to that one folder: it is looked into too."""
    entries = [p for p in upload.iterdir() if not p.name.startswith(".")]
    if len(entries) == 1 and entries[0].is_dir() and not entries[0].is_symlink():
        return entries
    return []


def stage(upload: Path, assignments: list[Assignment], dest: Path) -> list[str]:
    """Copy each assignment's files from `upload` to `dest/<id>/`; one note per assignment."""
    notes = []
    for assignment in assignments:
        found, note = locate(upload, assignment)
        notes.append(note)
        if found is None:
            continue
        target = dest / assignment.id
        shutil.copytree(found, target, ignore=_not_plain)
        for loose, expected in LOOSE_FILES.items():
            if (target / loose).is_file() and not (target / expected).exists():
                (target / expected).parent.mkdir(parents=True, exist_ok=True)
                (target / loose).rename(target / expected)
    return notes


def _not_plain(folder: str, names: list[str]) -> list[str]:
    """Hidden entries, links (they could point at instructor files) and special files stay."""
    return [name for name in names
            if name.startswith(".") or (Path(folder) / name).is_symlink()
            or not ((Path(folder) / name).is_file() or (Path(folder) / name).is_dir())]


def run(root: Path, ids: list[str], course: Course) -> int:
    """Grade `root`/submission into `root`/results/results.json; the grader's exit status."""
    results = root / "results" / "results.json"
    _write_json(results, _failure(PLACEHOLDER))
    assignments = course.select(ids)
    with tempfile.TemporaryDirectory(prefix="gradescope-") as tmp:
        staged = Path(tmp) / "submission"
        staged.mkdir()
        upload = root / "submission"
        notes = (stage(upload, assignments, staged) if upload.is_dir()
                 else ["Gradescope gave no submission folder."])
        print("\n".join(notes), flush=True)
        command = [sys.executable, "-m", "autograder", "grade", "--official",
                   "--submission", str(staged), "--out", str(results.parent),
                   *[a.id for a in assignments]]
        status = subprocess.run(command, cwd=course.root).returncode
    data = _read_json(results)
    if data is None or data.get("output") == PLACEHOLDER:
        data = _failure(CRASHED.format(reason=f"exit status {status}"))
    data["output"] = "\n".join(notes) + "\n\n" + str(data.get("output", ""))
    _write_json(results, data)
    return status


def seed_datasets(course: Course, ids: list[str]) -> list[str]:
    """Load every dataset the assignments need (download, verify, cache); their names."""
    from dlcourse import data

    needed = list(dict.fromkeys(d for a in course.select(ids) for d in a.datasets))
    for name in needed:
        if name not in DATASET_LOADERS:
            raise registry.RegistryError(f"no loader is known for dataset {name!r}; known: "
                                         f"{', '.join(DATASET_LOADERS)}")
        getattr(data, DATASET_LOADERS[name])()
        print(f"dataset {name}: ready", flush=True)
    return needed


def _failure(message: str) -> dict:
    return {"score": 0, "output": message, "visibility": "visible",
            "stdout_visibility": "hidden", "tests": []}


def _read_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and "score" in data else None


def _write_json(path: Path, data: dict) -> None:
    """Atomically, so Gradescope never reads half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.gradescope_run")
    parser.add_argument("command", choices=("run", "datasets"))
    parser.add_argument("assignments", nargs="+", metavar="ASSIGNMENT")
    parser.add_argument("--root", default="/autograder", help="Gradescope's root folder")
    args = parser.parse_args(argv)
    if args.command == "datasets":  # at image build: a failure must fail the build
        seed_datasets(registry.load(), args.assignments)
        return 0
    try:
        return run(Path(args.root), args.assignments, registry.load())
    except Exception:  # a bug here must still leave results that say whose problem it is
        traceback.print_exc()
        _write_json(Path(args.root) / "results" / "results.json",
                    _failure(CRASHED.format(reason="an internal error")))
        return 2


if __name__ == "__main__":
    sys.exit(main())
