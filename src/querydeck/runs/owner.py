"""Which process runs a run, and whether that process is still there.

Every run records its owner as ``host:pid:start``: the host is the machine's name, boot and
PID namespace (:func:`_host`), the start the process's start time in clock ticks since boot,
from ``/proc``, so that a process id the system has given to a new process is not taken for
the old one. A run left ``queued`` or ``running`` by a process that is gone (killed,
crashed) can never end on its own: see :func:`querydeck.runs.recovery.recover`.
"""

from __future__ import annotations

import os
import socket
from functools import cache


@cache
def _host() -> str:
    """This machine and process namespace: the host name, the kernel's boot id and the
    PID namespace. Process ids are compared only where all three match: two containers (or
    two machines) may share a host name, and a restarted machine reuses its process ids."""
    parts = [socket.gethostname()[:100]]
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as handle:
            parts.append(handle.read().strip()[:8])
        parts.append(os.readlink("/proc/self/ns/pid").strip("pid:[]"))
    except OSError:  # no /proc: the host name alone
        pass
    return "/".join(parts)


def _start_ticks(pid: int) -> str | None:
    """The start time of process ``pid`` (clock ticks after boot), None when there is no
    such process (or no ``/proc``)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold anything, spaces included.
    fields = stat[stat.rfind(b")") + 2 :].split()
    return fields[19].decode() if len(fields) > 19 else None


_mine: dict[int, str] = {}


def this_process() -> str:
    """This process's owner string (worked out again after a fork)."""
    pid = os.getpid()
    found = _mine.get(pid)
    if found is None:
        found = _mine[pid] = f"{_host()}:{pid}:{_start_ticks(pid) or '?'}"
    return found


def alive(owner: str | None) -> bool | None:
    """True when ``owner`` is a process of this machine that is still running, False when
    it is one of this machine's that is gone, None when that cannot be told (another
    machine, or no owner recorded)."""
    if not owner:
        return None
    parts = owner.rsplit(":", 2)
    if len(parts) != 3:
        return None
    host, pid_text, start = parts
    if host != _host() or not pid_text.isdigit():
        return None
    if start == "?":  # no /proc when it was recorded: ask whether the pid exists
        return _pid_exists(int(pid_text))
    return _start_ticks(int(pid_text)) == start


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
