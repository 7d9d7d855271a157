"""CPU per message of the processes of one benchmark run, measured over a
window in the middle of the run (start-up, imports and the drain left out).

A background thread waits ``start_after`` seconds, reads every process's CPU
seconds (interpreter threads and libzmq's, procstat.cpu_by_thread) and the
message count, waits ``length`` seconds and reads both again.  The result
divides each process's CPU, and its threads' context switches, by the messages
counted in between.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import procstat


def _snapshot(pids: dict[str, int]) -> dict[str, dict[str, float]]:
    return {who: procstat.cpu_by_thread(pid) for who, pid in pids.items()}


def _switches(pids: dict[str, int]) -> dict[str, dict[str, int]]:
    return {who: procstat.switches(pid) for who, pid in pids.items()}


class CpuWindow:
    def __init__(
        self,
        pids: dict[str, int | None],
        count: Callable[[], int],
        start_after: float,
        length: float,
    ) -> None:
        self._pids = {who: pid for who, pid in pids.items() if pid}
        self._count = count
        self._start_after = start_after
        self._length = length
        self._stop = threading.Event()
        self._result: dict[str, Any] | None = None
        self._why = "not started"
        self._thread = threading.Thread(target=self._run, name="cpu-window", daemon=True)

    def start(self) -> CpuWindow:
        self._thread.start()
        return self

    def _run(self) -> None:
        if self._stop.wait(self._start_after):
            self._why = "the run ended before the window began"
            return
        switches0 = _switches(self._pids)
        before, count0, machine0 = _snapshot(self._pids), self._count(), time.monotonic()
        busy0 = procstat.machine_busy_seconds()
        if self._stop.wait(self._length):
            self._why = "the run ended inside the window"
            return
        after, count1 = _snapshot(self._pids), self._count()
        switches1 = _switches(self._pids)
        busy, span = procstat.machine_busy_seconds() - busy0, time.monotonic() - machine0
        messages = count1 - count0
        if messages <= 0:
            self._why = "no message counted in the window"
            return
        cpu = {
            who: {part: round(after[who][part] - before[who][part], 2) for part in after[who]}
            for who in self._pids
        }
        self._result = {
            "window_s": round(span, 1),
            "messages": messages,
            "machine_busy_s": round(busy, 2),
            "cpu_s": cpu,
            "us_per_msg": {
                who: round(sum(parts.values()) * 1e6 / messages) for who, parts in cpu.items()
            },
            "switches_per_msg": {
                who: {
                    kind: round((switches1[who][kind] - switches0[who][kind]) / messages, 2)
                    for kind in switches0[who]
                }
                for who in self._pids
            },
        }

    def finish(self) -> dict[str, Any]:
        """The window's result, or {"error": why} when the run was too short for it."""
        self._stop.set()
        self._thread.join(5)
        return self._result if self._result is not None else {"error": self._why}
