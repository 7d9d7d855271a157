"""The faults.  Each one acts on a running lab and returns what it did.

Returned dicts hold ``fault_start``/``fault_end`` (CLOCK_MONOTONIC), numbers
for the report, and ``checks``: facts that show the fault really hit (a
proxy that carried traffic, bytes dropped, clients blocked...).  A failed
check makes the window's verdict fail: a fault that did not happen proves
nothing.
"""

from __future__ import annotations

import os
import signal
import time

from faultlab import records
from faultlab.lab import Lab


def _survivor_routed(lab: Lab, victim: int) -> int | None:
    return lab.routed_of(1 - victim)


def _grew(before: int | None, after: int | None) -> bool:
    return before is not None and after is not None and after > before


def hung(lab: Lab, victim: int, hold: float = 7.0) -> dict:
    """SIGSTOP the proxy for hold seconds (longer than proxy_timeout and peer_timeout)."""
    proxy = lab.proxies[victim]
    base = _survivor_routed(lab, victim)
    start = time.monotonic()
    os.kill(proxy.proc.pid, signal.SIGSTOP)
    try:
        time.sleep(hold)
        during = _survivor_routed(lab, victim)
    finally:
        os.kill(proxy.proc.pid, signal.SIGCONT)
    end = time.monotonic()
    return {
        "fault_start": start,
        "fault_end": end,
        "stopped_s": round(end - start, 2),
        "survivor_routed": None if base is None or during is None else during - base,
        "checks": {"traffic moved to the other proxy": _grew(base, during)},
    }


def killed_restarted(lab: Lab, victim: int, down: float = 2.0) -> dict:
    """SIGKILL the proxy, start it again on the same port after down seconds."""
    proxy = lab.proxies[victim]
    base = _survivor_routed(lab, victim)
    start = time.monotonic()
    proxy.kill()
    time.sleep(down)
    during = _survivor_routed(lab, victim)
    lab.restart_proxy(victim)
    end = time.monotonic()
    return {
        "fault_start": start,
        "fault_end": end,
        "down_s": round(end - start, 2),
        "survivor_routed": None if base is None or during is None else during - base,
        "checks": {
            "traffic moved to the other proxy": _grew(base, during),
            "proxy restarted": proxy.alive(),
        },
    }


def blackhole(lab: Lab, victim: int, hold: float = 7.0, reset: bool = True) -> dict:
    """The proxy's relay drops every byte for hold seconds, connections stay up."""
    relay = lab.relays[victim]
    base = _survivor_routed(lab, victim)
    dropped = relay.stats["dropped"]
    start = time.monotonic()
    relay.blackhole()
    try:
        time.sleep(hold)
        during = _survivor_routed(lab, victim)
    finally:
        resets = relay.restore(reset=reset)
    end = time.monotonic()
    dropped = relay.stats["dropped"] - dropped
    return {
        "fault_start": start,
        "fault_end": end,
        "hole_s": round(end - start, 2),
        "dropped_bytes": dropped,
        "connections_reset": resets,
        "survivor_routed": None if base is None or during is None else during - base,
        "checks": {
            "bytes were dropped": dropped > 0,
            "traffic moved to the other proxy": _grew(base, during),
        },
    }


def server_killed(lab: Lab, name: str, replacement: str, build: float = 5.0) -> dict:
    """Make a server slow until it has a backlog, SIGKILL it, start a replacement."""
    member = lab.members[name]
    member.child.signal(signal.SIGUSR1)  # slow: messages queue up and get deferred
    slow_from = time.monotonic()
    time.sleep(build)
    start = time.monotonic()
    killed_at = lab.kill_member(name)
    executed = sum(
        1
        for line in records.read(member.record)
        if line[0] == "cast" and float(line[3]) >= slow_from
    )
    fresh = lab.spawn_server(replacement, delay=member.delay, workers=member.workers)
    lab.wait_members([fresh])
    end = time.monotonic()
    return {
        "fault_start": start,
        "fault_end": end,
        "victim": name,
        "killed_at": killed_at,
        "concurrency": member.workers,
        "replacement": replacement,
        "executed_while_slow": executed,
        "checks": {"victim was executing while slow": executed > 0},
    }


def _last_sends(tails: dict[str, records.Tail], last: dict[str, float]) -> None:
    for cid, tail in tails.items():
        for line in tail.lines():
            if line[0] in ("sent-cast", "sent-fan", "cast-err", "fan-err"):
                last[cid] = max(last[cid], float(line[-1]))


def slow_server(
    lab: Lab,
    name: str,
    blocked_for: float = 1.5,
    max_wait: float = 40.0,
    hold: float = 2.0,
) -> dict:
    """Make a server very slow until back-pressure blocks a client's casts, then fast again."""
    member = lab.members[name]
    tails = {cid: records.Tail(path) for cid, path in lab.client_records.items()}
    _last_sends(tails, {cid: 0.0 for cid in tails})  # skip what is already there
    start = time.monotonic()
    last = dict.fromkeys(tails, start)
    member.child.signal(signal.SIGUSR1)
    blocked_at = None
    deadline = start + max_wait
    while time.monotonic() < deadline:
        time.sleep(0.25)
        _last_sends(tails, last)
        now = time.monotonic()
        if any(now - stamp >= blocked_for for stamp in last.values()):
            blocked_at = now
            break
    if blocked_at is not None:
        time.sleep(hold)
    member.child.signal(signal.SIGUSR2)
    end = time.monotonic()
    return {
        "fault_start": start,
        "fault_end": end,
        "victim": name,
        "delay_s": member.delay,
        "blocked_after_s": None if blocked_at is None else round(blocked_at - start, 2),
        "checks": {f"a client blocked in cast for {blocked_for} s": blocked_at is not None},
    }


def burst(lab: Lab, max_wait: float = 60.0) -> dict:
    """Every client sends its burst of casts as fast as it can."""
    tails = {cid: records.Tail(path) for cid, path in lab.client_records.items()}
    for tail in tails.values():
        tail.lines()
    start = time.monotonic()
    lab.signal_clients(signal.SIGUSR1)
    ended: dict[str, float] = {}
    deadline = start + max_wait
    while len(ended) < len(tails) and time.monotonic() < deadline:
        time.sleep(0.2)
        for cid, tail in tails.items():
            for line in tail.lines():
                if line[0] == "burst-end":
                    ended[cid] = float(line[2])
    end = time.monotonic()
    return {
        "fault_start": start,
        "fault_end": end,
        "size": lab.settings.burst,
        "burst_s": {cid: round(t - start, 2) for cid, t in sorted(ended.items())},
        "checks": {"every client finished its burst": len(ended) == len(tails)},
    }
