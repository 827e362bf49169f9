"""The worker process: imports one student module by file path and serves calls.

Started by `proxy.Worker` as `python -s -P -c ... FD PATH NAME MEMORY_LIMIT TASKS SEED_HOOKS`
(TASKS: the package trusted tasks come from; SEED_HOOKS: comma-separated `module:function` refs
of the worker policy, run at every seeding): no user site, no current directory on
`sys.path`, so nothing in the submission folder (a `sitecustomize.py`, a `conftest.py`, a
module named like a library) is imported unless the student's own module imports it.
Everything printed goes to a pipe the grader drains; replies go over the socket FD.
"""

from __future__ import annotations

import importlib
import importlib.util
import random
import resource
import signal
import sys
import traceback
from multiprocessing.connection import Connection
from pathlib import Path
from types import ModuleType
from typing import Any

from autograder.codec import decode_request, encode_reply


def _describe(exc: BaseException, student_file: str) -> dict[str, Any]:
    """Exception details safe to show: type, MRO names, message and the student's line."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == student_file]
    if isinstance(exc, SyntaxError) and exc.filename == student_file:
        where = f"{Path(student_file).name}:{exc.lineno}"
    elif frames:
        last = frames[-1]
        where = f"{Path(student_file).name}:{last.lineno} in {last.name}"
    else:
        where = ""
    message = str(exc)
    if isinstance(exc, SystemExit):
        message = f"sys.exit({exc.code!r}) was called"
    return {
        "type": type(exc).__name__,
        "mro": [cls.__name__ for cls in type(exc).__mro__],
        "message": message[:2000],
        "where": where,
    }


def _seed_everything(seed: int, hooks: list[Any]) -> None:
    """Python's and NumPy's generators, then each hook of the policy (e.g. Keras)."""
    random.seed(seed)
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed(seed)
    for hook in hooks:
        hook(seed)


def _import_student(path: str, name: str) -> ModuleType:
    # Import by file path under the module's own name: no other file can shadow it.
    folder = str(Path(path).parent)
    if folder not in sys.path:
        sys.path.append(folder)  # after the libraries, so a student's numpy.py shadows nothing
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _resolve_task(ref: str, package: str) -> Any:
    """The function `module:qualname`, which must live in the course's tasks package."""
    module_name, _, qualname = ref.partition(":")
    if not module_name.startswith(package + "."):
        raise ValueError(f"tasks must come from the {package!r} package, not {module_name!r}")
    target: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        target = getattr(target, part)
    return target


class Server:
    """Serves requests: ("seed", n), ("call", name, args, kwargs), ("run", ref, args, kwargs)."""

    def __init__(self, path: str, name: str, tasks_package: str, seed_hooks: list[str]) -> None:
        self.path = path
        self.name = name
        self.tasks_package = tasks_package
        self.seed_hooks = [_resolve_task(ref, tasks_package) for ref in seed_hooks]
        self.module: ModuleType | None = None
        self.import_error: dict[str, Any] | None = None

    def module_or_error(self) -> ModuleType | None:
        if self.module is None and self.import_error is None:
            try:
                self.module = _import_student(self.path, self.name)
            except BaseException as exc:  # SyntaxError, SystemExit, anything at import
                self.import_error = _describe(exc, self.path)
        return self.module

    def handle(self, request: tuple) -> tuple:
        kind = request[0]
        if kind == "seed":  # import first, so the first call's time limit excludes it
            self.module_or_error()
            _seed_everything(request[1], self.seed_hooks)
            return ("ok", None)
        module = self.module_or_error()
        if module is None:
            return ("import_error", self.import_error)
        _, target, args, kwargs = request
        try:
            if kind == "call":
                function = getattr(module, target, None)
                if not callable(function):
                    return ("missing", target)
                value = function(*args, **kwargs)
            else:
                value = _resolve_task(target, self.tasks_package)(module, *args, **kwargs)
        except BaseException as exc:  # the student's exception, SystemExit included
            return ("error", _describe(exc, self.path))
        return ("ok", value)


def _die_with_grader() -> None:
    """On Linux, ask the kernel to SIGKILL this process when the grader dies.

    So a hung student function never outlives a killed or cancelled grader. The signal follows
    the grader thread that started the worker: the grader starts workers from its main thread.
    """
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG


def main() -> None:
    fd, path, name, memory_limit = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
    tasks_package, hooks = sys.argv[5], [ref for ref in sys.argv[6].split(",") if ref]
    _die_with_grader()
    # Soft and hard: unprivileged student code cannot raise it again.
    resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))
    conn = Connection(fd)
    server = Server(path, name, tasks_package, hooks)
    while True:
        try:
            request = decode_request(conn.recv_bytes())
        except EOFError:
            return
        reply = server.handle(request)
        try:
            data = encode_reply(reply)
        except BaseException as exc:  # a result the data-only format cannot hold
            data = encode_reply(("error", {
                "type": "TypeError", "mro": ["TypeError", "Exception"], "where": "",
                "message": f"the result cannot be sent back to the grader ({exc})",
            }))
        conn.send_bytes(data)
