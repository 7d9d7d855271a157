"""Count the scale simulation's record files by message id.

Senders write ``MID HOST T_SENT`` per cast that returned, listeners
``MID HOST T_EXEC T_SENT`` per cast they executed; MID starts with its phase
(``PHASE:SENDER:SEQ``). A line cut short by a SIGKILL is skipped.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import latency


@dataclass
class Records:
    sent: dict[str, tuple[str, float]] = field(default_factory=dict)  # mid -> (host, t_sent)
    executed: collections.Counter[str] = field(default_factory=collections.Counter)
    exec_hosts: dict[str, set[str]] = field(default_factory=dict)  # mid -> hosts that ran it
    first_exec: dict[str, float] = field(default_factory=dict)  # mid -> first t_exec


def _lines(path: Path) -> list[list[str]]:
    """The complete lines of a record file, split into fields."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return []
    complete = text.split("\n")[:-1]  # the part after the last newline is unfinished
    return [line.split() for line in complete]


def read(sent_files: list[Path], exec_files: list[Path], phase: str) -> Records:
    """Everything recorded for one phase."""
    prefix = phase + ":"
    rec = Records()
    for path in sent_files:
        for parts in _lines(path):
            if len(parts) == 3 and parts[0].startswith(prefix):
                try:
                    rec.sent[parts[0]] = (parts[1], float(parts[2]))
                except ValueError:
                    continue
    for path in exec_files:
        for parts in _lines(path):
            if len(parts) != 4 or not parts[0].startswith(prefix):
                continue
            try:
                t_exec = float(parts[2])
                float(parts[3])
            except ValueError:
                continue
            mid = parts[0]
            rec.executed[mid] += 1
            rec.exec_hosts.setdefault(mid, set()).add(parts[1])
            if mid not in rec.first_exec or t_exec < rec.first_exec[mid]:
                rec.first_exec[mid] = t_exec
    return rec


def executed_count(exec_files: list[Path], phase: str) -> int:
    """Distinct message ids of the phase executed so far (for waiting on a drain)."""
    prefix = phase + ":"
    seen: set[str] = set()
    for path in exec_files:
        for parts in _lines(path):
            if len(parts) == 4 and parts[0].startswith(prefix):
                seen.add(parts[0])
    return len(seen)


def summary(rec: Records, down: list[tuple[str, float, float]] | None = None) -> dict[str, Any]:
    """Sent, executed exactly once, lost, duplicated; one-way latency and throughput.

    down: (host, t_down, t_up) intervals in which a listener was restarting; casts
    sent to that host inside one are counted as "sent while down"."""
    sent = rec.sent
    once = sum(1 for mid in sent if rec.executed.get(mid) == 1)
    lost = [mid for mid in sent if mid not in rec.executed]
    dups = {mid: n for mid, n in rec.executed.items() if n > 1}
    unexpected = [mid for mid in rec.executed if mid not in sent]
    wrong_host = [
        mid for mid, hosts in rec.exec_hosts.items() if mid in sent and hosts != {sent[mid][0]}
    ]
    lat = [rec.first_exec[mid] - t for mid, (_h, t) in sent.items() if mid in rec.first_exec]
    out: dict[str, Any] = {
        "sent": len(sent),
        "executed_once": once,
        "lost": len(lost),
        "duplicated": len(dups),
        "extra_executions": sum(n - 1 for n in dups.values()),
        "executed_not_sent": len(unexpected),
        "wrong_host": len(wrong_host),
        "lost_ids": sorted(lost)[:20],
        "duplicated_ids": sorted(dups)[:20],
    }
    out.update(latency.summarize(lat))
    if sent and rec.first_exec:
        first_sent = min(t for _h, t in sent.values())
        last_exec = max(rec.first_exec[mid] for mid in sent if mid in rec.first_exec)
        out["msgs_per_s"] = round(len(rec.first_exec) / max(last_exec - first_sent, 1e-9), 1)
    else:
        out["msgs_per_s"] = 0.0
    if down is not None:
        by_host: dict[str, list[tuple[float, float]]] = {}
        for host, t_down, t_up in down:
            by_host.setdefault(host, []).append((t_down, t_up))
        while_down = [
            mid
            for mid, (host, t) in sent.items()
            if any(a <= t <= b for a, b in by_host.get(host, ()))
        ]
        delays = [rec.first_exec[mid] - sent[mid][1] for mid in while_down if mid in rec.first_exec]
        out["sent_while_down"] = len(while_down)
        out["sent_while_down_executed_once"] = sum(
            1 for mid in while_down if rec.executed.get(mid) == 1
        )
        out["sent_while_down_max_delay_s"] = round(max(delays), 2) if delays else 0.0
    return out
