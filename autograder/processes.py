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
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                stack += [int(c) for c in (task / "children").read_text().split()]
            except OSError:  # the thread or process ended meanwhile
                continue
    return found


def cpu_seconds(pid: int) -> float:
    """CPU time of `pid`'s tree: every thread of every live process, to the nanosecond
    (/proc/<pid>/task/<tid>/schedstat), plus the reaped children's (in clock ticks)."""
    nanoseconds, ticks = 0, 0
    for process in descendants(pid):
        try:
            stat = Path(f"/proc/{process}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()  # after "(comm)", which may hold spaces
        ticks += int(fields[13]) + int(fields[14])  # cutime, cstime
        for task in Path(f"/proc/{process}/task").glob("*"):
            try:
                nanoseconds += int((task / "schedstat").read_text().split()[0])
            except (OSError, ValueError, IndexError):
                continue
    return nanoseconds / 1e9 + ticks / _CLOCK_TICKS


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
