"""A guard for children the lab cannot give a parent-death signal (the proxies).

    python -m faultlab.reaper        # stdin: one "PID MARKER" line per process

The lab starts it with a pipe on its stdin and writes the pid of every proxy
it starts.  When the pipe closes (the lab ended, normally or by SIGKILL) the
reaper SIGKILLs each listed pid that is still running and whose command line
still contains MARKER (so a recycled pid is left alone), then exits.
"""

from __future__ import annotations

import os
import signal
import sys


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a ^C to the lab must not skip the cleanup
    watched: list[tuple[int, str]] = []
    for line in sys.stdin:
        pid, _sep, marker = line.strip().partition(" ")
        if pid.isdigit() and marker:
            watched.append((int(pid), marker))
    for pid, marker in watched:
        if marker in _cmdline(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
