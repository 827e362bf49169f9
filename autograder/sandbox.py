"""Where the worker runs: a bubblewrap sandbox, a dedicated unprivileged user, or (locally) neither.

bubblewrap (`bwrap`, unprivileged user namespaces) is the sandbox: the worker sees the Python
installation and its virtual environment read-only, a read-only copy of the code it needs
(`/grader`: the worker, the wire format and the course's task package, never a check file),
a read-only private copy of the submission (`/submission`) and a private tmpfs (`/tmp`,
its working directory). No network, its own PID namespace (it cannot see, read or signal the
grader, and everything it starts dies with it), no repository, solutions, checks or datasets.

Where user namespaces are unavailable but the grader runs as root (Gradescope's containers),
the worker runs as the unprivileged user `SANDBOX_USER` instead: instructor files must then be
unreadable and the output folder unwritable for that user (the Gradescope setup does both).
Without either, students grading themselves get a notice; official gradings refuse to run.

Every mode gives the worker the same allow-listed environment: no token, no `GITHUB_*`.
"""

from __future__ import annotations

import functools
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

SANDBOX_USER = "autograder-worker"
MODES = ("auto", "bwrap", "user", "none")
CODE_INSIDE, SUBMISSION_INSIDE, TMP_INSIDE = "/grader", "/submission", "/tmp"
VENV_INSIDE = "/venv"  # a virtual environment is mounted here: its real path names the repo
# The engine modules the worker imports (nothing else of autograder/ is copied for it).
WORKER_MODULES = ("__init__.py", "worker.py", "codec.py")
# Libraries a student's module may import from the course, besides the virtual environment.
STUDENT_LIBRARIES = ("dlcourse",)
UNSANDBOXED_NOTICE = ("Note: your code runs without a sandbox here (bubblewrap is not "
                      "installed); that is fine for your own feedback, and official gradings "
                      "always run sandboxed.")


class SandboxError(Exception):
    """No sandbox of the requested kind can run here; the message says how to get one."""


@dataclass(frozen=True)
class Sandbox:
    """How to start a worker: `mode` is "bwrap", "user" or "none"."""

    mode: str

    @property
    def isolated(self) -> bool:
        return self.mode != "none"

    def command(self, argv: list[str], *, code: Path, submission: Path,
                env: dict[str, str]) -> list[str]:
        """`argv` (paths given as inside paths) wrapped to run in this sandbox."""
        if self.mode != "bwrap":
            return argv
        binds = ["--ro-bind", str(code), CODE_INSIDE, "--ro-bind", str(submission),
                 SUBMISSION_INSIDE]
        for outside, inside in _python_mounts().items():
            binds += ["--ro-bind", outside, inside]
        env_args = [arg for name, value in env.items() for arg in ("--setenv", name, value)]
        return ["bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--clearenv",
                *env_args, *_system_binds(), *binds, "--tmpfs", TMP_INSIDE,
                "--chdir", TMP_INSIDE, "--", *argv]

    def hide_arguments(self, command: list[str]) -> tuple[list[str], int | None]:
        """bubblewrap reads its options from a pipe (`--args FD`), so the sandbox's process 1
        shows none of the grader's paths in /proc/1/cmdline, only the worker's command (inside
        paths). Returns (command, FD to pass or None)."""
        if self.mode != "bwrap":
            return command, None
        options, inner = command[1:command.index("--")], command[command.index("--"):]
        read, write = os.pipe()
        with os.fdopen(write, "wb") as pipe:  # a few KiB: well within the pipe's buffer
            pipe.write(b"".join(arg.encode() + b"\0" for arg in options))
        return [command[0], "--args", str(read), *inner], read

    def exit_status(self, code: int) -> int:
        """The worker's own exit status: bubblewrap reports death by signal n as 128 + n."""
        if self.mode == "bwrap" and code > 128:
            return -(code - 128)
        return code

    def paths(self, code: Path, submission: Path,
              workdir: Path) -> tuple[str, str, str, str]:
        """(python, code, submission, working directory) as the worker sees them."""
        if self.mode == "bwrap":
            python = sys.executable
            if sys.prefix != sys.base_prefix:
                python = VENV_INSIDE + sys.executable.removeprefix(sys.prefix)
            return python, CODE_INSIDE, SUBMISSION_INSIDE, TMP_INSIDE
        return sys.executable, str(code), str(submission), str(workdir)

    def user_ids(self) -> tuple[int, int] | None:
        """(uid, gid) to run the worker as, in "user" mode."""
        if self.mode != "user":
            return None
        entry = pwd.getpwnam(SANDBOX_USER)
        return entry.pw_uid, entry.pw_gid


def choose(requested: str = "auto", *, official: bool = False) -> Sandbox:
    """The sandbox to use: `requested` ("auto" picks the strongest that works here)."""
    if requested not in MODES:
        raise SandboxError(f"unknown sandbox {requested!r}; choose from {', '.join(MODES)}")
    available = {"bwrap": bwrap_works(), "user": user_mode_works()}
    if requested == "auto":
        requested = next((mode for mode, ok in available.items() if ok), "none")
    if requested in available and not available[requested]:
        raise SandboxError(_how_to_get(requested))
    if official and requested == "none":
        raise SandboxError("official gradings run sandboxed: " + _how_to_get("bwrap"))
    return Sandbox(requested)


@functools.cache
def bwrap_works() -> bool:
    """Can bubblewrap create a sandbox with every namespace here?"""
    if shutil.which("bwrap") is None:
        return False
    probe = ["bwrap", "--unshare-all", "--die-with-parent", *_system_binds(), "--", "true"]
    try:
        return subprocess.run(probe, capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@functools.cache
def user_mode_works() -> bool:
    """Is the grader root, with the unprivileged sandbox user present, and can that user run
    this Python with its libraries? (A virtual environment in root's home is unreadable to it:
    every check would then fail with PermissionError instead of a clear refusal here.)"""
    try:
        entry = pwd.getpwnam(SANDBOX_USER)
    except KeyError:
        return False
    if os.geteuid() != 0:
        return False
    probe = [sys.executable, "-c", "import numpy"]
    try:
        return subprocess.run(probe, capture_output=True, timeout=60, cwd="/",
                              user=entry.pw_uid, group=entry.pw_gid,
                              extra_groups=[]).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _how_to_get(mode: str) -> str:
    if mode == "bwrap":
        return ("bubblewrap cannot run here: install it (Debian/Ubuntu: apt-get install "
                "bubblewrap) on a system that allows unprivileged user namespaces, or run as "
                f"root with a user named {SANDBOX_USER} (useradd --system {SANDBOX_USER})")
    return (f"the 'user' sandbox needs the grader to run as root, a user named "
            f"{SANDBOX_USER} (useradd --system {SANDBOX_USER}), and this Python "
            f"({sys.executable}) with its packages readable by that user")


def _python_mounts() -> dict[str, str]:
    """Outside path -> inside path of this Python: the base install where it is (the venv's
    pyvenv.cfg names it), the virtual environment at /venv. Under /usr they are there already."""
    mounts = {}
    if not sys.base_prefix.startswith("/usr"):
        mounts[sys.base_prefix] = sys.base_prefix
    if sys.prefix != sys.base_prefix:
        mounts[sys.prefix] = VENV_INSIDE
    return mounts


def _system_binds() -> list[str]:
    """The system, read-only: /usr (with the merged-/usr links), a fresh /proc and /dev, and
    the parts of /etc that libraries look for (fonts, the linker cache)."""
    args = ["--ro-bind", "/usr", "/usr", "--proc", "/proc", "--dev", "/dev"]
    for name in ("bin", "lib", "lib64", "sbin"):
        path = Path(f"/{name}")
        if path.is_symlink():  # merged /usr: keep the links
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            args += ["--ro-bind", str(path), str(path)]
    for path in ("/etc/fonts", "/etc/ld.so.cache", "/etc/localtime"):
        if Path(path).exists():
            args += ["--ro-bind", path, path]
    return args


def stage_code(tasks_package: Path) -> Path:
    """A new read-only folder with what the worker imports: never a check file.

    Holds autograder's worker modules, the course's task package without its `test_*.py`
    files (the public and hidden checks), and the libraries students may import.
    """
    stage = Path(tempfile.mkdtemp(prefix="autograder-code-"))
    engine = Path(__file__).resolve().parent
    (stage / "autograder").mkdir()
    for name in WORKER_MODULES:
        shutil.copyfile(engine / name, stage / "autograder" / name)
    shutil.copytree(tasks_package, stage / tasks_package.name,
                    ignore=shutil.ignore_patterns("test_*.py", "__pycache__", "*.md", "*.json"))
    for library in STUDENT_LIBRARIES:
        shutil.copytree(engine.parent / library, stage / library,
                        ignore=shutil.ignore_patterns("__pycache__"))
    make_readable(stage)
    return stage


def make_readable(folder: Path) -> None:
    """Folders 0755 and files 0644: readable (not writable) by the sandbox user."""
    folder.chmod(0o755)
    for path in folder.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
