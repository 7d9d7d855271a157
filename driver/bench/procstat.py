"""CPU seconds and resident memory of a process, from /proc (Linux)."""

from __future__ import annotations

import os

_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of pid and all its threads (None: gone)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            text = handle.read()
    except OSError:
        return None
    # the command name (field 2) may hold blanks: count fields after its ')'
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime (fields 14, 15)


def rss_bytes(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/statm") as handle:
            return int(handle.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return None


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent outside idle and iowait since boot (/proc/stat)."""
    with open("/proc/stat") as handle:
        fields = handle.readline().split()[1:]
    ticks = [int(x) for x in fields]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)
    # guest time is already counted in user time
    return (sum(ticks[:8]) - idle) / _TICKS


def _thread_files(pid: int, name: str):
    """The text of /proc/<pid>/task/<tid>/<name> for each of pid's live threads."""
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/{name}") as handle:
                yield handle.read()
        except OSError:
            continue


def cpu_by_thread(pid: int) -> dict[str, float]:
    """CPU seconds of pid's threads grouped as "libzmq" (its ZMQbg/* I/O and reaper
    threads) and "python" (every other thread: the interpreter's)."""
    out = {"python": 0.0, "libzmq": 0.0}
    for text in _thread_files(pid, "stat"):
        name = text[text.index("(") + 1 : text.rindex(")")]
        fields = text[text.rindex(")") + 2 :].split()
        seconds = (int(fields[11]) + int(fields[12])) / _TICKS
        out["libzmq" if name.startswith("ZMQbg") else "python"] += seconds
    return out


def switches(pid: int) -> dict[str, int]:
    """Context switches of all pid's threads since they started: "voluntary" (the
    thread waited) and "involuntary" (the scheduler took its CPU away)."""
    out = {"voluntary": 0, "involuntary": 0}
    for text in _thread_files(pid, "status"):
        for line in text.splitlines():
            if line.startswith("voluntary_ctxt_switches:"):
                out["voluntary"] += int(line.split()[1])
            elif line.startswith("nonvoluntary_ctxt_switches:"):
                out["involuntary"] += int(line.split()[1])
    return out
