"""The course registry: one TOML file (`course.toml`) that lists every assignment.

The engine, the release, the student export, the tests and the benchmarks read it; nothing
else lists assignments. It is data, not code, so reading it runs nothing. Layout it implies
(paths relative to the registry's folder):

    solutions/<id>/        the instructors' source (module, README, notebook, solution-only files)
    assignments/<id>/      the student release generated from solutions/<id>/
    <checks>/<id>/         the checks: test_public.py, optional test_hidden.py, helpers
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_REGISTRY = PROJECT_ROOT / "course.toml"
PUBLIC_CHECKS = "test_public.py"
HIDDEN_CHECKS = "test_hidden.py"
HIDDEN_MANIFEST = "hidden_checks.json"  # what a student export keeps of the hidden checks


class RegistryError(Exception):
    """course.toml is missing, unreadable or inconsistent; the message says what to fix."""


@dataclass(frozen=True)
class WorkerPolicy:
    """How the worker of an assignment runs: memory limit, environment, seeding hooks; and
    the modules the trusted side imports before any worker starts (`grader_imports`)."""

    name: str
    memory_gib: float
    env: dict[str, str]
    seed_hooks: tuple[str, ...]
    grader_imports: tuple[str, ...] = ()
    call_cpu_seconds: float | None = None  # per call of the student's code (busy hangs)
    call_wall_seconds: float | None = None  # per call: the backstop for hangs that sleep


@dataclass(frozen=True)
class Assignment:
    """One registry entry. `budgets` holds named numbers the checks read (e.g. train_seconds)."""

    id: str
    title: str
    topic: str
    module: str
    functions: tuple[str, ...]
    points: float
    policy: WorkerPolicy
    datasets: tuple[str, ...]
    solution_only: tuple[str, ...]
    budgets: dict[str, float] = field(default_factory=dict)

    @property
    def module_file(self) -> str:
        return f"{self.module}.py"


@dataclass(frozen=True)
class Course:
    """The whole registry; `root` is the folder that holds course.toml."""

    root: Path
    title: str
    checks_dir: Path
    tasks_package: str
    grader_env: dict[str, str]
    versions: dict[str, tuple[str, ...]]
    assignments: dict[str, Assignment]

    def get(self, assignment_id: str) -> Assignment:
        if assignment_id not in self.assignments:
            raise RegistryError(f"unknown assignment {assignment_id!r}; course.toml lists: "
                                f"{', '.join(self.assignments)}")
        return self.assignments[assignment_id]

    def select(self, ids: list[str]) -> list[Assignment]:
        """The assignments named in `ids` (all of them when empty), in registry order."""
        for assignment_id in ids:
            self.get(assignment_id)
        return [a for a in self.assignments.values() if not ids or a.id in ids]

    def check_folder(self, assignment_id: str) -> Path:
        return self.checks_dir / assignment_id


def load(path: Path = DEFAULT_REGISTRY) -> Course:
    """Read and validate the registry at `path`."""
    path = Path(path).resolve()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise RegistryError(f"cannot read the course registry {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise RegistryError(f"{path} is not valid TOML: {exc}") from None
    course = _table(data, "course", path)
    policies = {name: _policy(name, _table(data["policies"], name, path), path)
                for name in _table(data, "policies", path)}
    assignments: dict[str, Assignment] = {}
    for entry in _list(data, "assignments", path):
        assignment = _assignment(entry, policies, path)
        if assignment.id in assignments:
            raise RegistryError(f"{path}: assignment {assignment.id!r} is listed twice")
        assignments[assignment.id] = assignment
    return Course(
        root=path.parent,
        title=_value(course, "title", str, path),
        checks_dir=path.parent / _value(course, "checks", str, path),
        tasks_package=_value(course, "tasks_package", str, path),
        grader_env=_strings(course.get("grader_env", {}), "course.grader_env", path),
        versions={k: tuple(v) for k, v in course.get("versions", {}).items()},
        assignments=assignments,
    )


def assignment_of(check_file: str | Path) -> Assignment:
    """The registry entry of the assignment a check file belongs to (`<checks>/<id>/x.py`).

    For check modules: `ASSIGNMENT = assignment_of(__file__)` gives their budgets and module.
    The registry is the course.toml two folders up from the check's folder.
    """
    folder = Path(check_file).resolve().parent
    return load(folder.parent.parent / "course.toml").get(folder.name)


def _policy(name: str, table: dict[str, Any], path: Path) -> WorkerPolicy:
    return WorkerPolicy(
        name=name,
        memory_gib=float(_value(table, "memory_gib", int | float, path)),
        env=_strings(table.get("env", {}), f"policies.{name}.env", path),
        seed_hooks=tuple(table.get("seed_hooks", [])),
        grader_imports=tuple(table.get("grader_imports", [])),
        call_cpu_seconds=_seconds(table, "call_cpu_seconds", path),
        call_wall_seconds=_seconds(table, "call_wall_seconds", path),
    )


def _assignment(entry: dict[str, Any], policies: dict[str, WorkerPolicy],
                path: Path) -> Assignment:
    assignment_id = _value(entry, "id", str, path)
    policy_name = _value(entry, "policy", str, path)
    if policy_name not in policies:
        raise RegistryError(f"{path}: assignment {assignment_id!r} names policy "
                            f"{policy_name!r}; defined policies: {', '.join(policies)}")
    return Assignment(
        id=assignment_id,
        title=_value(entry, "title", str, path),
        topic=_value(entry, "topic", str, path),
        module=_value(entry, "module", str, path),
        functions=tuple(_value(entry, "functions", list, path)),
        points=float(_value(entry, "points", int | float, path)),
        policy=policies[policy_name],
        datasets=tuple(entry.get("datasets", [])),
        solution_only=tuple(entry.get("solution_only", [])),
        budgets={k: float(v) for k, v in entry.get("budgets", {}).items()},
    )


def _seconds(table: dict[str, Any], key: str, path: Path) -> float | None:
    value = table.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise RegistryError(f"{path}: {key} must be a number of seconds > 0, got {value!r}")
    return float(value)


def _table(data: dict[str, Any], key: str, path: Path) -> dict[str, Any]:
    return _value(data, key, dict, path)


def _list(data: dict[str, Any], key: str, path: Path) -> list[Any]:
    return _value(data, key, list, path)


def _value(data: dict[str, Any], key: str, kind: Any, path: Path) -> Any:
    if key not in data:
        raise RegistryError(f"{path}: missing key {key!r} (in {sorted(data)})")
    value = data[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise RegistryError(f"{path}: {key!r} has the wrong type ({type(value).__name__})")
    return value


def _strings(table: Any, where: str, path: Path) -> dict[str, str]:
    if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
        raise RegistryError(f"{path}: {where} must map names to strings")
    return dict(table)
