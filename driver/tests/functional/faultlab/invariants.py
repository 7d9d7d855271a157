"""What the record files say, per fault window and in total.

Input: the run description written by scenario.run (windows, members with
their lifetimes, client record files, client exits).  Every message belongs
to the window in which its sender started it.

Invariants:
* casts: every cast whose cast() returned executed exactly once.  In a
  server-killed window, casts the killed server had begun and not finished
  are reported apart (``lost in exec``) and tolerated up to its concurrency.
* calls: executed at most once; exactly once when the call returned its value.
* fanout: at most once per server; exactly once on every server alive for
  the whole window.
* notifications: exactly once per pool.
* clients: every client exited by itself within the bound after SIGTERM,
  with status 0 (no stuck or crashed sender thread).
* every fault really happened (its ``checks``).
* a proxy fault (hung, killed-restarted, blackhole) blocks no cast() longer than
  the driver's failover allows: its ack_timeout or proxy_timeout, whichever is
  longer, plus FAILOVER_SLACK (a loop turn, the copy's trip through the other
  proxy).  A loop whose timers fire late passes the other checks but not this one.

    python -m faultlab.invariants WORKDIR     # re-evaluate a finished run
"""

from __future__ import annotations

import bisect
import collections
import json
import os
import sys

from faultlab import records
from oslo_messaging_zmq import options

PROXY_FAULTS = ("hung", "killed-restarted", "blackhole")
FAILOVER_SLACK = 1.5  # s: observed blocks are 2.2-2.3 s with both timeouts at 3 s

# client record kinds: (ok kind, error kind)
KINDS = {
    "cast": ("sent-cast", "cast-err"),
    "fan": ("sent-fan", "fan-err"),
    "call": ("call-ok", "call-err"),
    "notify": ("sent-notify", "notify-err"),
}


class _Sent:
    """What the clients recorded: per kind, mid -> (ok?, error name, t0, t1)."""

    def __init__(self, paths: dict[str, str]) -> None:
        self.ops: dict[str, dict[str, tuple[bool, str, float, float]]] = {k: {} for k in KINDS}
        self.crashes: list[list[str]] = []
        kind_of = {}
        for kind, (ok, err) in KINDS.items():
            kind_of[ok] = (kind, True)
            kind_of[err] = (kind, False)
        for cid, path in paths.items():
            for line in records.read(path):
                if line[0] in kind_of:
                    kind, ok = kind_of[line[0]]
                    error = "" if ok else line[2]
                    self.ops[kind][line[1]] = (ok, error, float(line[-2]), float(line[-1]))
                elif line[0] == "crash":
                    self.crashes.append([cid, *line[1:]])


class _Executed:
    """What the servers and listeners recorded."""

    def __init__(self, members: dict[str, dict]) -> None:
        self.begun: dict[str, list[str]] = collections.defaultdict(list)
        self.done: dict[str, dict[str, list[str]]] = {
            k: collections.defaultdict(list) for k in KINDS
        }
        self.first_at: dict[str, float] = {}
        for name, member in members.items():
            pool = member.get("pool")
            for line in records.read(member["record"]):
                if len(line) < 4:
                    continue
                kind, mid, stamp = line[0], line[1], float(line[3])
                if kind == "begin-cast":
                    self.begun[mid].append(name)
                    continue
                if kind not in self.done:
                    continue
                self.done[kind][mid].append(pool if kind == "notify" else name)
                self.first_at.setdefault(mid, stamp)


def _alive_throughout(member: dict, start: float, end: float) -> bool:
    ready, ended = member.get("ready_at"), member.get("ended_at")
    return ready is not None and ready <= start and (ended is None or ended >= end)


def _casts(win, mids, sent, executed) -> dict:
    victim = win["details"].get("victim") if win["name"] == "server-killed" else None
    out = collections.Counter()
    max_block = 0.0
    for mid in mids:
        ok, _err, t0, t1 = sent.ops["cast"][mid]
        runs = executed.done["cast"].get(mid, [])
        out["sent" if ok else "err"] += 1
        if len(runs) > 1:
            out["dup"] += 1
            out["extra_runs"] += len(runs) - 1
        if not ok:
            out["err_executed"] += bool(runs)
            continue
        max_block = max(max_block, t1 - t0)
        if len(runs) == 1:
            out["once"] += 1
        elif not runs:
            if victim is not None and victim in executed.begun.get(mid, []):
                out["lost_in_exec"] += 1
            else:
                out["lost"] += 1
    result = {k: out[k] for k in ("sent", "once", "dup", "extra_runs", "lost", "lost_in_exec")}
    result.update(err=out["err"], err_executed=out["err_executed"], max_block_s=round(max_block, 2))
    return result


def _calls(mids, sent, executed) -> dict:
    out = collections.Counter()
    errors = collections.Counter()
    for mid in mids:
        ok, err, _t0, _t1 = sent.ops["call"][mid]
        runs = len(executed.done["call"].get(mid, []))
        out["ok" if ok else "err"] += 1
        if not ok:
            errors[err] += 1
            out["err_executed"] += runs > 0
        out["dup"] += runs > 1
        out["ok_not_executed"] += ok and runs == 0
    return {
        "ok": out["ok"],
        "err": out["err"],
        "errors": dict(errors),
        "dup": out["dup"],
        "ok_not_executed": out["ok_not_executed"],
        "err_executed": out["err_executed"],
    }


def _fanout(win, mids, sent, executed, members) -> dict:
    rpc = {n: m for n, m in members.items() if m["kind"] == "rpc"}
    alive = [n for n, m in rpc.items() if _alive_throughout(m, win["start"], win["end"])]
    per_server = {}
    for name in rpc:
        missing = dup = 0
        for mid in mids:
            count = executed.done["fan"].get(mid, []).count(name)
            dup += count > 1
            missing += sent.ops["fan"][mid][0] and name in alive and count == 0
        per_server[name] = {"missing": missing, "dup": dup, "alive_throughout": name in alive}
    blocks = [t1 - t0 for ok, _e, t0, t1 in (sent.ops["fan"][mid] for mid in mids) if ok]
    return {
        "sent": sum(1 for mid in mids if sent.ops["fan"][mid][0]),
        "err": sum(1 for mid in mids if not sent.ops["fan"][mid][0]),
        "max_block_s": round(max(blocks, default=0.0), 2),
        "missing": sum(s["missing"] for s in per_server.values()),
        "dup": sum(s["dup"] for s in per_server.values()),
        "servers_checked": alive,
        "per_server": {n: s for n, s in per_server.items() if s["missing"] or s["dup"]},
    }


def _notify(win, mids, sent, executed, members) -> dict:
    pools = collections.defaultdict(list)
    for name, member in members.items():
        if member["kind"] == "notify":
            pools[member["pool"]].append(name)
    lost = dup = 0
    per_pool = {}
    for pool, names in sorted(pools.items()):
        whole = any(_alive_throughout(members[n], win["start"], win["end"]) for n in names)
        p_lost = p_dup = 0
        for mid in mids:
            count = executed.done["notify"].get(mid, []).count(pool)
            p_dup += count > 1
            p_lost += sent.ops["notify"][mid][0] and whole and count == 0
        per_pool[pool] = {"lost": p_lost, "dup": p_dup}
        lost, dup = lost + p_lost, dup + p_dup
    return {
        "sent": sum(1 for mid in mids if sent.ops["notify"][mid][0]),
        "lost": lost,
        "dup": dup,
        "per_pool": per_pool,
    }


def failover_bound(run: dict) -> float:
    """How long a proxy fault may block cast(), from the lab's driver options."""
    query = run.get("plan", {}).get("settings", {}).get("query", {})
    defaults = {opt.dest: opt.default for _group, opts in options.list_opts() for opt in opts}
    timeouts = [float(query.get(name, defaults[name])) for name in ("ack_timeout", "proxy_timeout")]
    return max(timeouts) + FAILOVER_SLACK


def _violations(win: dict, block_bound: float) -> list[str]:
    c, k, f, n = win["casts"], win["calls"], win["fanout"], win["notify"]
    found = []
    if win["name"] in PROXY_FAULTS and win["max_block_s"] > block_bound:
        found.append(
            f"a cast() blocked {win['max_block_s']:.1f} s (failover bound {block_bound:.1f} s)"
        )
    if c["lost"]:
        found.append(f"{c['lost']} casts lost")
    concurrency = win["details"].get("concurrency")
    if c["lost_in_exec"] and (concurrency is None or c["lost_in_exec"] > concurrency):
        found.append(f"{c['lost_in_exec']} casts lost in execution (> concurrency {concurrency})")
    if c["dup"]:
        found.append(f"{c['dup']} casts executed more than once")
    if k["dup"]:
        found.append(f"{k['dup']} calls executed more than once")
    if k["ok_not_executed"]:
        found.append(f"{k['ok_not_executed']} calls answered but never executed")
    if f["missing"]:
        found.append(f"{f['missing']} fanout copies missing")
    if f["dup"]:
        found.append(f"{f['dup']} fanout copies duplicated")
    if n["lost"]:
        found.append(f"{n['lost']} notifications lost")
    if n["dup"]:
        found.append(f"{n['dup']} notifications duplicated")
    for check, ok in win["details"].get("checks", {}).items():
        if not ok:
            found.append(f"fault not exercised: {check}")
    return found


def _client_violations(run: dict, sent: _Sent) -> list[str]:
    found = []
    if not run.get("exits"):
        found.append("clients were never stopped")
    for cid, info in sorted(run.get("exits", {}).items()):
        if info["hung"]:
            found.append(f"client {cid} hung: no exit {run['client_bound_s']:.0f} s after SIGTERM")
        elif info["code"] != 0:
            found.append(f"client {cid} exited {info['code']} ({info.get('exit_line')})")
    for crash in sent.crashes:
        found.append(f"client {crash[0]} thread {crash[1]} crashed: {crash[2]}")
    return found


def evaluate(run: dict) -> dict:
    sent = _Sent(run["clients"])
    executed = _Executed(run["members"])
    members = run["members"]
    block_bound = failover_bound(run)
    wins = sorted(run["windows"], key=lambda w: w["start"])
    end = run.get("traffic_end") or float("inf")
    for idx, win in enumerate(wins):
        win["end"] = wins[idx + 1]["start"] if idx + 1 < len(wins) else end
    starts = [w["start"] for w in wins]
    by_window: list[dict[str, list[str]]] = [{k: [] for k in KINDS} for _w in wins]
    for kind, ops in sent.ops.items():
        for mid, (_ok, _err, t0, _t1) in ops.items():
            by_window[max(0, bisect.bisect_right(starts, t0) - 1)][kind].append(mid)
    recorded = set().union(*(ops.keys() for ops in sent.ops.values()))
    unrecorded = sorted(mid for kind in KINDS for mid in executed.done[kind] if mid not in recorded)
    result_windows = []
    for win, mids in zip(wins, by_window, strict=True):
        row = {
            "name": win["name"],
            "round": win["round"],
            "start": win["start"],
            "end": win["end"],
            "details": win["details"],
            "casts": _casts(win, mids["cast"], sent, executed),
            "calls": _calls(mids["call"], sent, executed),
            "fanout": _fanout(win, mids["fan"], sent, executed, members),
            "notify": _notify(win, mids["notify"], sent, executed, members),
        }
        # longest a client was blocked in cast() (casts and fanout casts)
        row["max_block_s"] = max(row["casts"]["max_block_s"], row["fanout"]["max_block_s"])
        row["violations"] = _violations(row, block_bound)
        result_windows.append(row)
    totals = _totals(result_windows)
    clients = _client_violations(run, sent)
    violations = [f"{w['name']}#{w['round']}: {v}" for w in result_windows for v in w["violations"]]
    violations += clients
    if unrecorded:
        violations.append(f"{len(unrecorded)} executions of messages no client recorded")
    return {
        "ok": not violations,
        "violations": violations,
        "windows": result_windows,
        "totals": totals,
        "clients": run.get("exits", {}),
        "client_violations": clients,
        "unrecorded_executions": unrecorded[:20],
        "driver": run.get("driver"),
        "workdir": run.get("workdir"),
        "wall_s": run.get("wall_s"),
        "drain_s": run.get("drain_s"),
    }


def _totals(rows: list[dict]) -> dict:
    totals: dict[str, dict] = {}
    for section in ("casts", "calls", "fanout", "notify"):
        acc = collections.Counter()
        for row in rows:
            for key, value in row[section].items():
                if isinstance(value, int | float) and not key.startswith("max"):
                    acc[key] += value
        totals[section] = dict(acc)
    totals["max_block_s"] = max((r["max_block_s"] for r in rows), default=0)
    return totals


def main(argv: list[str] | None = None) -> int:
    from faultlab import report

    argv = sys.argv[1:] if argv is None else argv
    with open(os.path.join(argv[0], "run.json")) as handle:
        result = evaluate(json.load(handle))
    print(report.table(result))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
