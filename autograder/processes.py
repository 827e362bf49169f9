"""A worker's processes as the kernel sees them (/proc), read from the trusted side.

The worker cannot forge these figures: CPU time is the kernel's account of every process in
its tree (threads included, exited children once reaped), not something the worker reports.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def descendants(pid: int) -> list[int]:
    """`pid` and every process below it (children of all its threads), depth first."""
    found, stack = [], [pid]
    while stack:
        current = stack.pop()
        found.append(current)
        for task in _tasks(current):
            stack += [int(c) for c in _read(f"/proc/{current}/task/{task}/children").split()]
    return found


def cpu_seconds(pid: int) -> float:
    """CPU time of `pid`'s tree: every thread of every live process, to the nanosecond
    (/proc/<pid>/task/<tid>/schedstat), plus the reaped children's (in clock ticks)."""
    nanoseconds, ticks = 0, 0
    for process in descendants(pid):
        stat = _read(f"/proc/{process}/stat")
        if not stat:  # ended meanwhile
            continue
        fields = stat.rsplit(")", 1)[1].split()  # after "(comm)", which may hold spaces
        ticks += int(fields[13]) + int(fields[14])  # cutime, cstime
        for task in _tasks(process):
            schedstat = _read(f"/proc/{process}/task/{task}/schedstat").split()
            nanoseconds += int(schedstat[0]) if schedstat else 0
    return nanoseconds / 1e9 + ticks / _CLOCK_TICKS


def _tasks(pid: int) -> list[str]:
    try:
        return os.listdir(f"/proc/{pid}/task")
    except OSError:  # the process ended meanwhile
        return []


def _read(path: str) -> str:
    """A small /proc file's text, or "" when it is gone (plain os calls: this runs at every
    call of the student's code)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return ""
    try:
        return os.read(fd, 4096).decode("ascii", "replace")
    except OSError:
        return ""
    finally:
        os.close(fd)


def kill_user_processes(uid: int) -> int:
    """SIGKILL every process owned by `uid` (the sandbox user); how many there were."""
    killed = 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == uid:
                    os.kill(int(entry.name), signal.SIGKILL)
                    killed += 1
            except (OSError, ProcessLookupError):
                continue
    return killed
