"""The trusted side of the worker: start it with limits, call into it, restart it after a crash."""

from __future__ import annotations

import collections
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from autograder import processes
from autograder.codec import UnsafeReply, decode_reply, encode_request
from autograder.registry import WorkerPolicy
from autograder.sandbox import Sandbox, make_readable

MAX_REPLY_BYTES = 2**30  # the largest result a student's call may send back
_OUTPUT_TAIL_BYTES = 4096
_POLL_SECONDS = 0.05  # how often a waiting grader reads the worker's CPU time
STARTUP_LIMITS_SECONDS = 120.0  # importing the student's module (and its libraries)


@dataclass(frozen=True)
class Limits:
    """Time limits of one request: CPU seconds the worker may use, and a wall-clock backstop
    (None: no limit of that kind)."""

    cpu: float | None
    wall: float | None

_BOOT = (
    "import sys; sys.path.insert(0, {root!r}); "
    "from autograder.worker import main; main()"
)


class StudentError(Exception):
    """The student's code raised an exception (it crossed back by description, not by value)."""

    def __init__(self, call: str, info: dict[str, Any]) -> None:
        self.call = call
        self.exc_type: str = info["type"]
        self.mro: list[str] = info["mro"]
        self.message: str = info["message"]
        self.where: str = info["where"]
        text = f"{call} raised {self.exc_type}"
        text += f": {self.message}" if self.message else ""
        text += f" (at {self.where})" if self.where else ""
        super().__init__(text)

    def isinstance_of(self, name: str) -> bool:
        """True if the student's exception is a `name` (checked by class name along its MRO)."""
        return name in self.mro


class StudentImportError(Exception):
    """The student's module could not be imported (missing file, syntax error, error at import)."""


class StudentCrash(Exception):
    """The worker process died or sent something unreadable while running student code.

    `brief` says how; `output` is the tail of what the worker printed (shown for visible checks
    only: for a hidden one it may hold the check's inputs).
    """

    def __init__(self, brief: str, output: str = "") -> None:
        self.brief = brief
        self.output = output
        super().__init__(f"{brief}; last output:\n{output}" if output else brief)


def _worker_environment(policy: WorkerPolicy, tmp: str) -> dict[str, str]:
    """An allow-list, never the grader's environment: no token or GITHUB_* reaches the worker."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": tmp,
        "TMPDIR": tmp,
        "MPLCONFIGDIR": tmp,
        "LANG": "C.UTF-8",
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",  # nothing written next to the student's module
        "PYTHONUNBUFFERED": "1",
        "MPLBACKEND": "Agg",
        **policy.env,
    }


def _not_plain_files(folder: str, names: list[str]) -> list[str]:
    """What the submission copy leaves out: hidden entries, caches, and anything that is not a
    plain file or folder (a symbolic link could point at instructor files; a FIFO would hang)."""
    skipped = []
    for name in names:
        path = Path(folder) / name
        if (name.startswith(".") or name == "__pycache__" or path.is_symlink()
                or not (path.is_file() or path.is_dir())):
            skipped.append(name)
    return skipped


class Worker:
    """One worker process serving one student module; started lazily, restarted after a crash.

    It runs in `sandbox` on a private copy of the module's folder, importing only the staged
    `code` (see sandbox.stage_code). `policy` (from the registry) sets its environment, memory
    limit and seeding hooks; `tasks_package` is the only package whose functions
    `student.run` may run in it.
    """

    def __init__(self, module_path: Path, module_name: str, policy: WorkerPolicy, *,
                 tasks_package: str, sandbox: Sandbox, code: Path,
                 memory_limit_gib: float | None = None) -> None:
        self.module_path = Path(module_path).resolve()
        self.module_name = module_name
        self.policy = policy
        self.tasks_package = tasks_package
        self.sandbox = sandbox
        self.code = code
        self.memory_limit = int((memory_limit_gib or policy.memory_gib) * 2**30)
        self.process: subprocess.Popen | None = None
        self.seeded_by: object | None = None
        self.conn: Connection | None = None
        self.workdir: Path | None = None
        self.hung: dict[str, str] = {}  # function -> where it hung, kept across restarts
        self.output_bytes = 0
        self._tail: collections.deque[bytes] = collections.deque()
        self._tail_size = 0
        self._drain: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        ours, theirs = socket.socketpair()
        submission, tmp = self._prepare_folders()
        python, code_in, submission_in, tmp_in = self.sandbox.paths(self.code, submission, tmp)
        env = _worker_environment(self.policy, tmp_in)
        argv = [python, "-s", "-P", "-c", _BOOT.format(root=code_in),
                str(theirs.fileno()), f"{submission_in}/{self.module_path.name}",
                self.module_name, str(self.memory_limit), self.tasks_package,
                ",".join(self.policy.seed_hooks)]
        ids = self.sandbox.user_ids()
        command, args_fd = self.sandbox.hide_arguments(self.sandbox.command(
            argv, code=self.code, submission=submission, env=env))
        fds = (theirs.fileno(),) if args_fd is None else (theirs.fileno(), args_fd)
        try:
            self.process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, pass_fds=fds, cwd=tmp, env=env,
                start_new_session=True, user=ids[0] if ids else None,
                group=ids[1] if ids else None, extra_groups=[] if ids else None)
        finally:
            theirs.close()
            if args_fd is not None:
                os.close(args_fd)
        self.conn = Connection(ours.detach())
        self.seeded_by = None
        self.output_bytes = 0
        self._tail.clear()
        self._tail_size = 0
        self._drain = threading.Thread(target=self._drain_output, args=(self.process,),
                                       daemon=True)
        self._drain.start()

    def _prepare_folders(self) -> tuple[Path, Path]:
        """A fresh private copy of the module's folder (read-only for the worker) and a
        working folder the worker may write (the sandbox user's in "user" mode)."""
        self.workdir = Path(tempfile.mkdtemp(prefix="autograder-worker-"))
        submission = self.workdir / "submission"
        if self.module_path.parent.is_dir():
            shutil.copytree(self.module_path.parent, submission, ignore=_not_plain_files)
        else:
            submission.mkdir()
        tmp = self.workdir / "tmp"
        tmp.mkdir()
        make_readable(self.workdir)
        ids = self.sandbox.user_ids()
        if ids:
            os.chown(tmp, *ids)
            tmp.chmod(0o700)
        return submission, tmp

    def cpu_seconds(self) -> float:
        """CPU time the worker's processes used so far, as the kernel counts it."""
        return processes.cpu_seconds(self.process.pid) if self.process else 0.0

    def _drain_output(self, process: subprocess.Popen) -> None:
        # Keep only the tail: a flood of output costs pipe bandwidth, never memory.
        while chunk := process.stdout.read1(65536):
            self.output_bytes += len(chunk)
            self._tail.append(chunk)
            self._tail_size += len(chunk)
            while self._tail_size - len(self._tail[0]) >= _OUTPUT_TAIL_BYTES:
                self._tail_size -= len(self._tail.popleft())

    def output_tail(self) -> str:
        return b"".join(self._tail)[-_OUTPUT_TAIL_BYTES:].decode("utf-8", "replace")

    def stop(self) -> None:
        """Kill the worker and everything it started, then clean up.

        bwrap: its PID namespace dies with it; "user": every process of the sandbox user
        (even one that left the worker's session); otherwise the worker's session.
        """
        if self.process is not None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            ids = self.sandbox.user_ids()
            if ids:
                processes.kill_user_processes(ids[0])
            self.process.wait()
            if self._drain is not None:
                self._drain.join(timeout=5)
            self.process.stdout.close()
        if self.conn is not None:
            self.conn.close()
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
        self.process = self.conn = self.workdir = self._drain = None

    # -- requests --------------------------------------------------------------------------
    def request(self, message: tuple, describe: str, limits: Limits) -> tuple:
        """Send one request and wait for its reply within `limits`; on any interruption (a
        limit, pytest-timeout's signal, ^C) the worker is killed."""
        if self.process is None:
            self.start()
        try:
            self.conn.send_bytes(encode_request(message))
            self._wait(describe, limits)
            data = self.conn.recv_bytes(MAX_REPLY_BYTES)
        except TimeoutError:  # an OSError too, but the worker is alive: ours, not a crash
            self.stop()
            raise
        except OSError as exc:
            if not isinstance(exc, ConnectionError) and self.process.poll() is None:
                # alive and connected: the reply was over the size limit
                self.stop()
                raise StudentCrash(f"{describe} returned more than {MAX_REPLY_BYTES // 2**20} MiB;"
                                   " return smaller results") from exc
            return self._crashed(describe, exc)
        except EOFError as exc:
            return self._crashed(describe, exc)
        except BaseException:  # a timeout (ours or pytest-timeout's) or an interrupt
            self.stop()
            raise
        try:
            return decode_reply(data, max_bytes=MAX_REPLY_BYTES)
        except UnsafeReply as exc:
            self.stop()
            raise StudentCrash(f"{describe}: {exc}") from None

    def _wait(self, describe: str, limits: Limits) -> None:
        """Until the reply is ready: TimeoutError once the worker has used more CPU time than
        allowed (a busy hang, whatever the load) or the wall-clock backstop has passed (a hang
        that sleeps, or waits)."""
        start, cpu = time.monotonic(), None
        while not self.conn.poll(_POLL_SECONDS):
            # read from the first wait on: a quick call costs no reading, and what it used
            # before (under 2 x _POLL_SECONDS of CPU on 2 cores) does not matter for a limit
            cpu = self.cpu_seconds() if cpu is None else cpu
            if limits.cpu is not None and self.cpu_seconds() - cpu > limits.cpu:
                raise TimeoutError(f"{describe} used more than {limits.cpu:g} s of CPU time "
                                   "without returning")
            if limits.wall is not None and time.monotonic() - start > limits.wall:
                raise TimeoutError(f"{describe} did not return within {limits.wall:g} s")

    def _crashed(self, describe: str, cause: BaseException) -> tuple:
        try:
            code = self.sandbox.exit_status(self.process.wait(timeout=5))
        except subprocess.TimeoutExpired:  # alive but closed its end of the socket
            code = None
        self.stop()
        tail = self.output_tail().strip().splitlines()[-5:]
        raise StudentCrash(_crash_message(describe, code), "\n".join(tail)) from cause


def _crash_message(describe: str, code: int | None) -> str:
    if code is None:
        how = "closed its connection to the grader"
    elif code < 0:
        name = signal.Signals(-code).name
        how = f"was killed by {name}"
        if name == "SIGKILL":
            how += " (out of memory?)"
    else:
        how = f"exited with code {code} (sys.exit or os._exit in your code?)"
    return f"the worker process running {describe} {how}"


_DEFAULT = object()  # "use the worker policy's limit"


class StudentModule:
    """A proxy for the submission's module: attribute calls run in the worker, by value.

    Each call is limited in CPU time (the policy's `call_cpu_seconds` unless the check says
    otherwise) with a wall-clock backstop (`call_wall_seconds`, or the check's `timeout`). A
    function that hit a limit is not called again in this grading: later calls fail at once,
    naming the check where it hung.
    """

    def __init__(self, worker: Worker, seed: int, check: str = "") -> None:
        self._worker = worker
        self._seed = seed
        self._check = check
        self.path: Path = worker.module_path
        self.last_call_seconds: float = 0.0
        self.last_call_cpu_seconds: float = 0.0

    def _request(self, message: tuple, describe: str, function: str, limits: Limits) -> Any:
        if not self.path.is_file():
            raise StudentImportError(
                f"{self.path.name} was not found in {self.path.parent}: "
                "keep the file name and folder of the assignment")
        if function in self._worker.hung:
            raise TimeoutError(f"{function}() was not called: it did not return in "
                               f"{self._worker.hung[function]}")
        if self._worker.process is None or self._worker.seeded_by is not self:
            # every check, and every restart after a crash, starts from the same seed
            startup = Limits(STARTUP_LIMITS_SECONDS, STARTUP_LIMITS_SECONDS)
            self._worker.request(("seed", self._seed), "importing your code", startup)
            self._worker.seeded_by = self
        start, cpu = time.perf_counter(), self._worker.cpu_seconds()
        try:
            reply = self._worker.request(message, describe, limits)
        except TimeoutError as exc:
            self._worker.hung[function] = f"check {self._check} ({exc})"
            raise
        self.last_call_seconds = time.perf_counter() - start
        self.last_call_cpu_seconds = self._worker.cpu_seconds() - cpu
        return _unwrap(reply, describe, self.path.name)

    def _limits(self, timeout: Any, cpu_timeout: Any) -> Limits:
        policy = self._worker.policy
        return Limits(policy.call_cpu_seconds if cpu_timeout is _DEFAULT else cpu_timeout,
                      policy.call_wall_seconds if timeout is _DEFAULT else timeout)

    def call(self, name: str, *args: Any, timeout: Any = _DEFAULT, cpu_timeout: Any = _DEFAULT,
             **kwargs: Any) -> Any:
        """Call the student's function `name`; the result crosses back by value."""
        return self._request(("call", name, args, kwargs), f"{name}()", name,
                             self._limits(timeout, cpu_timeout))

    def run(self, task: Any, *args: Any, timeout: Any = _DEFAULT, cpu_timeout: Any = _DEFAULT,
            **kwargs: Any) -> Any:
        """Run the trusted `task(module, *args, **kwargs)` inside the worker.

        By convention a task's first argument, when a string, names the student's function
        it calls: a hang is remembered against that function.
        """
        ref = f"{task.__module__}:{task.__qualname__}"
        named = bool(args) and isinstance(args[0], str)
        function = args[0] if named else task.__name__
        # Messages name the student's function, never the grader's task (students cannot
        # act on a name they have never seen).
        describe = f"{function}()" if named else task.__name__
        return self._request(("run", ref, args, kwargs), describe, function,
                             self._limits(timeout, cpu_timeout))

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return lambda *args, **kwargs: self.call(name, *args, **kwargs)


def _unwrap(reply: Any, describe: str, filename: str) -> Any:
    if not (isinstance(reply, tuple) and len(reply) == 2):
        raise StudentCrash(f"{describe}: the worker sent a malformed reply")
    kind, value = reply
    if kind == "ok":
        return value
    if kind == "error":
        raise StudentError(describe, value)
    if kind == "missing":
        raise StudentError(describe, {
            "type": "AttributeError", "mro": ["AttributeError", "Exception"], "where": "",
            "message": f"{filename} has no function {value!r}: keep the names of the template"})
    if kind == "import_error":
        at = f" at {value['where']}" if value["where"] else ""
        raise StudentImportError(
            f"{filename} could not be imported: {value['type']}{at}: {value['message']}")
    raise StudentCrash(f"{describe}: the worker sent a malformed reply")
