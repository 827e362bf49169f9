"""`python -m autograder gradescope-zip [ID ...] --out autograder.zip`: Gradescope's autograder.

The zip holds, at its root as Gradescope requires: `setup.sh` and `run_autograder` (from the
templates in gradescope_files/, with the assignments filled in) and the course source that
grades: the engine, `dlcourse/`, the registry, `requirements.txt`, and of `course/` the shared
helpers and the check folders of the chosen assignments, hidden checks included (the zip
goes to Gradescope, never to students). Never `solutions/`, the instructor's tests, data, or
git's files. The entries are sorted and dated 1980-01-01, so the same source gives the same
bytes. What runs on Gradescope is in gradescope_run.py.
"""

from __future__ import annotations

import argparse
import zipfile
from pathlib import Path, PurePosixPath

from rich.console import Console

from autograder import export, registry
from autograder.registry import PUBLIC_CHECKS, Course, RegistryError

TEMPLATES = Path(__file__).resolve().parent / "gradescope_files"
SCRIPTS = ("setup.sh", "run_autograder")
SHIPPED = ("autograder/", "dlcourse/", "course.toml", "requirements.txt")
EXECUTABLE, REGULAR = 0o100755 << 16, 0o100644 << 16  # zip external_attr: Unix mode bits
DATE = (1980, 1, 1, 0, 0, 0)


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register `gradescope-zip` on the CLI's subcommands."""
    parser = sub.add_parser("gradescope-zip", help="write Gradescope's autograder.zip")
    parser.add_argument("assignments", nargs="*", metavar="ASSIGNMENT",
                        help="assignment ids to grade there (default: all)")
    parser.add_argument("--out", default="autograder.zip", help="the zip to write")
    parser.add_argument("--time-budget-scale", type=float, default=1.0, metavar="X",
                        help="multiply every training time budget by X there (Gradescope's "
                             "default half CPU trains about 4 times slower than 2 cores)")
    parser.add_argument("--course", default=str(registry.DEFAULT_REGISTRY),
                        help=argparse.SUPPRESS)


def main(args: argparse.Namespace, console: Console) -> int:
    """Write the zip; 0 when done, 2 with a one-line reason when not."""
    try:
        course = registry.load(Path(args.course))
        ids = [a.id for a in course.select(args.assignments)]
        names = build_zip(course, ids, Path(args.out), args.time_budget_scale)
    except (RegistryError, export.ExportError, OSError, ValueError) as exc:
        console.print(f"gradescope-zip failed: {exc}", markup=False, soft_wrap=True)
        return 2
    console.print(f"Wrote {args.out} ({len(names)} files) grading {', '.join(ids)}. Upload it "
                  "as the autograder of a Gradescope programming assignment.", markup=False)
    return 0


def build_zip(course: Course, ids: list[str], out: Path,
              time_budget_scale: float = 1.0) -> list[str]:
    """Write the autograder zip for assignments `ids` to `out`; the names it holds.
    `time_budget_scale` becomes AUTOGRADER_TIME_BUDGET_SCALE in run_autograder."""
    if not time_budget_scale > 0:
        raise ValueError(f"the time budget scale must be > 0, got {time_budget_scale}")
    for assignment_id in ids:
        if not (course.check_folder(assignment_id) / PUBLIC_CHECKS).is_file():
            raise RegistryError(f"{course.check_folder(assignment_id) / PUBLIC_CHECKS} is "
                                "missing: every graded assignment needs its public checks")
    entries = {name: render(name, ids, time_budget_scale).encode() for name in SCRIPTS}
    for relative in shipped_files(course, ids):
        entries[str(relative)] = (course.root / relative).read_bytes()
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=DATE)
            info.external_attr = EXECUTABLE if name in SCRIPTS else REGULAR
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, entries[name])
    return sorted(entries)


def render(script: str, ids: list[str], time_budget_scale: float = 1.0) -> str:
    """A template of gradescope_files/ with the assignment ids and the time scale filled in."""
    text = (TEMPLATES / script).read_text(encoding="utf-8")
    return (text.replace("@ASSIGNMENTS@", " ".join(ids))
            .replace("@TIME_BUDGET_SCALE@", f"{time_budget_scale:g}"))


def shipped_files(course: Course, ids: list[str]) -> list[PurePosixPath]:
    """The course files Gradescope needs to grade `ids`, as paths relative to the course root.

    Of the checks folder: its own files and helper packages, and the folders of `ids`; not
    the other assignments' checks nor the student repository's overlay.
    """
    checks = PurePosixPath(course.checks_dir.relative_to(course.root).as_posix())
    skipped = set(course.assignments) - set(ids) | {PurePosixPath(export.OVERLAY).name}
    chosen = []
    for relative in export.source_files(course.root):
        if "__pycache__" in relative.parts or relative.suffix == ".pyc":
            continue
        text = str(relative)
        if relative.is_relative_to(checks):
            inside = relative.relative_to(checks).parts
            if len(inside) == 1 or inside[0] not in skipped:
                chosen.append(relative)
        elif any(text == path or (path.endswith("/") and text.startswith(path))
                 for path in SHIPPED):
            chosen.append(relative)
    return chosen
