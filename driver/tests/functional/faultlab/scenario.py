"""The fault sequence: one lab, steady traffic, one fault per window, then a drain.

A window is [start, end): a quiet gap (where the victim proxy is chosen: the
one that routed most during the gap), the fault, and a recovery period.
Windows are contiguous from the first client message to the last, so every
message belongs to exactly one window, by the time its sender started it.

    python -m faultlab.scenario [--workdir DIR] [--faults hung,burst] [--json FILE]
                                [--blackhole-resume] [--green]

runs one sequence and prints the table (exit 1 if an invariant failed).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from faultlab import faults, invariants, records, report
from faultlab.lab import Lab, Settings

FAULTS = ("hung", "killed-restarted", "blackhole", "burst", "server-killed", "slow-server")
PROXY_FAULTS = invariants.PROXY_FAULTS


@dataclass
class Timing:
    warmup: float = 3.0  # baseline window before the first fault
    quiet: float = 2.0  # gap before each fault (victim chosen here)
    recovery: float = 6.0  # after each fault (> ack_timeout + proxy_timeout)
    hang: float = 7.0  # SIGSTOP, > proxy_timeout (3) and peer_timeout (5)
    down: float = 2.0  # proxy killed before its restart
    hole: float = 7.0  # relay black-holed
    backlog: float = 5.0  # server slow before SIGKILL
    drain_stable: float = 2.0  # record files unchanged this long...
    grace: float = 4.0  # ...then this much for late duplicates (> ack_timeout)
    drain_max: float = 45.0


@dataclass
class Plan:
    rounds: int = 1
    faults: tuple[str, ...] = FAULTS
    minutes: float | None = None  # soak: start no new round after this
    blackhole_reset: bool = True  # see relay.Relay.restore
    timing: Timing = field(default_factory=Timing)
    settings: Settings = field(default_factory=Settings)

    def client_bound(self) -> float:
        """How long after SIGTERM a client may take to exit: a call's timeout,
        the transport's cleanup flush (5 s) and some slack.  The client gives
        up by itself earlier (call timeout + 5 s for its threads, 10 s for
        cleanup) and records why."""
        return self.settings.call_timeout + 20.0


class Sequence:
    def __init__(self, lab: Lab, plan: Plan, log: Callable[[str], None]) -> None:
        self.lab = lab
        self.plan = plan
        self.log = log
        self.windows: list[dict] = []
        self.killable = "k1"
        self.killed = 0
        self._events = open(os.path.join(lab.workdir, "events.log"), "a")  # noqa: SIM115

    def event(self, text: str) -> None:
        line = f"{records.stamp()} {time.strftime('%H:%M:%S')} {text}"
        self._events.write(line + "\n")
        self._events.flush()
        self.log(line)

    def close(self) -> None:
        self._events.close()

    # -- setup -----------------------------------------------------------------
    def start(self, duration: float) -> None:
        lab = self.lab
        lab.start_network()
        self.event(f"proxies {[p.address for p in lab.proxies]} relays {lab.url.split('/?')[0]}")
        members = [
            lab.spawn_server("s1"),
            lab.spawn_server("s2"),
            lab.spawn_server("k1", delay=0.02, workers=1),  # server-killed victim
            lab.spawn_server("w1", delay=1.0, workers=1),  # slow-server victim
        ]
        for pool, count in lab.settings.pools.items():
            members += [lab.spawn_listener(f"{pool}{n}", pool) for n in range(1, count + 1)]
        lab.wait_members(members)
        lab.start_clients(duration)
        count = f"{len(members)} listeners, {len(lab.clients)} clients"
        self.event(f"driver {lab.driver_root}; {count}")

    # -- windows ---------------------------------------------------------------
    def baseline(self) -> None:
        start = min(c.spawned_at for c in self.lab.clients.values())
        time.sleep(self.plan.timing.warmup)
        self.windows.append(
            {"name": "baseline", "round": 0, "start": start, "details": {"checks": {}}}
        )

    def window(self, name: str, rnd: int) -> None:
        timing = self.plan.timing
        start = time.monotonic()
        counters = self.lab.counters()
        before = self.lab.routed()
        time.sleep(timing.quiet)
        after = self.lab.routed()
        self.event(f"round {rnd} {name}: begins (routed {after})")
        if name in PROXY_FAULTS:
            deltas = [
                -1 if b is None or a is None else a - b for b, a in zip(before, after, strict=True)
            ]
            victim = max(range(len(deltas)), key=lambda i: deltas[i])
            details = self._proxy_fault(name, victim)
            details["victim"] = f"proxy{victim + 1}"
            details["victim_routed_in_gap"] = deltas[victim]
            details["checks"]["victim carried traffic"] = deltas[victim] > 0
        elif name == "server-killed":
            self.killed += 1
            replacement = f"k{self.killed + 1}"
            details = faults.server_killed(self.lab, self.killable, replacement, timing.backlog)
            self.killable = replacement
        elif name == "slow-server":
            details = faults.slow_server(self.lab, "w1")
        elif name == "burst":
            details = faults.burst(self.lab)
        else:
            raise ValueError(f"unknown fault {name}")
        self.event(f"round {rnd} {name}: fault over ({_brief(details)})")
        time.sleep(timing.recovery)
        details["proxy_counters"] = _counter_deltas(counters, self.lab.counters())
        self.windows.append({"name": name, "round": rnd, "start": start, "details": details})

    def _proxy_fault(self, name: str, victim: int) -> dict:
        timing = self.plan.timing
        self.event(f"{name}: victim proxy{victim + 1} ({self.lab.proxies[victim].address})")
        if name == "hung":
            return faults.hung(self.lab, victim, timing.hang)
        if name == "killed-restarted":
            return faults.killed_restarted(self.lab, victim, timing.down)
        return faults.blackhole(self.lab, victim, timing.hole, self.plan.blackhole_reset)

    # -- the end ---------------------------------------------------------------
    def drain(self) -> float:
        """Wait until no record file grows, plus a grace period; return the time it took."""
        timing = self.plan.timing
        start = time.monotonic()
        deadline = start + timing.drain_max
        paths = [m.record for m in self.lab.members.values()]
        size, since = -1, time.monotonic()
        while time.monotonic() < deadline:
            now_size = sum(os.path.getsize(p) for p in paths if os.path.exists(p))
            if now_size != size:
                size, since = now_size, time.monotonic()
            elif time.monotonic() - since >= timing.drain_stable:
                break
            time.sleep(0.25)
        time.sleep(timing.grace)
        return time.monotonic() - start


def _counter_deltas(before: list[dict | None], after: list[dict | None]) -> dict:
    """What each proxy counted during a window (non-zero counters only).

    A proxy restarted in the window counts from zero: its values are then
    the new process's, marked ``restarted``."""
    out = {}
    for idx, (old, new) in enumerate(zip(before, after, strict=True)):
        if new is None:
            out[f"proxy{idx + 1}"] = None
            continue
        old = old or {}
        restarted = any(new.get(k, 0) < v for k, v in old.items())
        base = {} if restarted else old
        delta = {k: v - base.get(k, 0) for k, v in new.items() if v - base.get(k, 0)}
        if restarted:
            delta["restarted"] = True
        out[f"proxy{idx + 1}"] = delta
    return out


def _brief(details: dict) -> str:
    skip = ("fault_start", "fault_end", "checks")
    return ", ".join(f"{k}={v}" for k, v in details.items() if k not in skip)


def run(workdir: str, plan: Plan | None = None, log: Callable[[str], None] = print) -> dict:
    """Run the plan in a fresh lab under workdir; return the evaluated result."""
    plan = plan or Plan()
    began = time.monotonic()
    # the clients' own stop time and every child's hard lifetime; normally the
    # sequence stops the clients long before (SIGTERM)
    rounds_budget = plan.rounds * 300.0 + 300.0
    if plan.minutes is not None:
        rounds_budget = min(rounds_budget, plan.minutes * 60 + 600.0)
    plan.settings.lifetime = rounds_budget + 600.0
    budget_end = began + (plan.minutes or 0) * 60
    lab = Lab(workdir, plan.settings)
    seq = Sequence(lab, plan, log)
    exits: dict = {}
    drained = 0.0
    traffic_end = None
    try:
        seq.start(duration=rounds_budget)
        seq.baseline()
        for rnd in range(1, plan.rounds + 1):
            if plan.minutes is not None and rnd > 1 and time.monotonic() > budget_end:
                seq.event(f"{plan.minutes} min used, stopping after {rnd - 1} rounds")
                break
            for name in plan.faults:
                seq.window(name, rnd)
        seq.event("stopping clients")
        traffic_end = time.monotonic()
        exits = lab.stop_clients(plan.client_bound())
        seq.event(f"clients stopped: {exits}")
        drained = seq.drain()
        seq.event(f"drained in {drained:.1f} s")
    finally:
        try:
            lab.close()
        finally:
            seq.close()
    run_info = {
        "driver": lab.driver_root,
        "workdir": workdir,
        "plan": asdict(plan),
        "windows": seq.windows,
        "traffic_end": traffic_end,
        "members": {
            name: {
                "kind": m.kind,
                "pool": m.pool,
                "record": m.record,
                "ready_at": m.ready_at,
                "ended_at": m.ended_at,
                "workers": m.workers,
            }
            for name, m in lab.members.items()
        },
        "clients": lab.client_records,
        "exits": exits,
        "client_bound_s": plan.client_bound(),
        "drain_s": round(drained, 1),
        "wall_s": round(time.monotonic() - began, 1),
    }
    with open(os.path.join(workdir, "run.json"), "w") as handle:
        json.dump(run_info, handle, indent=1)
    return invariants.evaluate(run_info)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--faults", default=",".join(FAULTS))
    parser.add_argument("--json", default=None, help="write the result here too")
    parser.add_argument(
        "--blackhole-resume",
        action="store_true",
        help="after the hole, resume the broken connections instead of resetting them",
    )
    parser.add_argument(
        "--green",
        action="store_true",
        help="servers, listeners and clients under eventlet (the eventlet executor)",
    )
    args = parser.parse_args(argv)
    workdir = args.workdir or tempfile.mkdtemp(prefix="faultlab-")
    os.makedirs(workdir, exist_ok=True)
    plan = Plan(
        faults=tuple(f for f in args.faults.split(",") if f),
        blackhole_reset=not args.blackhole_resume,
        settings=Settings(green=args.green),
    )
    result = run(workdir, plan)
    print(report.table(result))
    if args.json:
        report.write_json(result, args.json)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
