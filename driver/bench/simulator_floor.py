#!/usr/bin/env python3
"""How far any transport could go in oslo.messaging's simulator on this machine.

The unchanged tools/simulator.py runs three ways in each round, side by side:
RabbitMQ, the zmq driver (CURVE), and ``floor://`` (floor_driver.py), a
transport that moves nothing: its client only JSON-encodes what it sends and
its server's listener hands over messages decoded from bodies shaped like the
client's, as fast as oslo.messaging takes them. Floor client and server run at
the same time, each in its own process as in the other runs, but they do not
talk: each one's rate is its own.

The lower of the two floor rates is a ceiling: no transport, however cheap,
can make this simulator's client send or its server take more messages per
second on this machine, because everything left in those processes is
oslo.messaging's, eventlet's and the simulator's. Its ratio to RabbitMQ is
the most that a goal stated against RabbitMQ in this simulator can reach here.

RabbitMQ's and zmq's rates are the simulator's count from the client's start
to its last bucket (answered calls; casts taken by the server): the "ratio by
span" of simulator.py, which holds even when RabbitMQ's cast server leaves its
stats timer for seconds. The floor processes are measured over a window in the
middle of the run (their own 1 s lines), a steady rate without the client's
first second: this favours the floor by up to that second over the run, so the
ceiling is if anything too high. CPU per message: the middle window for all.

Writes results/<stamp>-simulator-floor.{json,md}. See README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import environment
import simulator as sim_run
from cpu_window import CpuWindow

HERE = Path(__file__).resolve().parent
FLOOR = "floor"
COMPARED = ("rabbit", "zmq-curve")
CLIENT_LINE = re.compile(r" client-\d+\s*: seq: (\d+)\s+count: (\d+)")
READY_TIMEOUT = 30.0
SERVER_EXTRA = 6  # s the floor server's -l exceeds the client's (it starts first)

log = sim_run.log


def install_floor(where: Path) -> Path:
    """A directory that, on PYTHONPATH, makes floor:// an oslo.messaging driver."""
    shutil.copy(HERE / "floor_driver.py", where / "floor_driver.py")
    info = where / "zmqos_bench_floor-0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: zmqos-bench-floor\nVersion: 0\n")
    (info / "entry_points.txt").write_text(
        "[oslo.messaging.drivers]\nfloor = floor_driver:FloorDriver\n"
    )
    return where


def _counter(proc: sim_run.Proc, pattern: re.Pattern[str]):
    return lambda: sum(int(count) for _seq, count in pattern.findall(proc.text()))


def _window_rate(window: dict[str, Any], who: str) -> dict[str, Any]:
    if "us_per_msg" not in window:
        return {"error": window.get("error", "no window")}
    return {
        "per_s": round(window["messages"] / window["window_s"], 1),
        "cpu_us": window["us_per_msg"][who],
        "switches": (window.get("switches_per_msg") or {}).get(who),
        "machine_busy_pct": round(
            100 * window["machine_busy_s"] / (window["window_s"] * (os.cpu_count() or 1)), 1
        ),
    }


def run_floor(
    sim: sim_run.Simulator, wl: sim_run.Workload, rnd: int, st: sim_run.Settings, path: Path
) -> dict[str, Any]:
    """Floor server and floor client at the same time; each one's own rate and CPU."""
    topic = f"sim_{wl.name.replace('-', '')}_{FLOOR}_r{rnd}"  # "call" in it: the server answers
    base = st.log_dir / f"{FLOOR}-{wl.name}-r{rnd}"
    ep = sim_run.Endpoint(FLOOR, ["--url", "floor://"], lambda _w, _t: True, lambda: None)
    env = dict(os.environ, PYTHONPATH=str(path), ZMQOS_FLOOR_SIMULATOR=str(sim.path))
    if wl.kind == "call":
        env["ZMQOS_FLOOR_WINDOW"] = str(wl.threads)
    procs: list[sim_run.Proc] = []
    problems: list[str] = []
    try:
        srv_cmd = sim_run._server_cmd(sim, ep, wl, topic, st, Path(f"{base}-server.json"))
        # it never runs out of messages: it stops by itself (-l) after the client, cleanly
        srv_cmd[srv_cmd.index("-l") + 1] = str(st.duration + SERVER_EXTRA)
        server = sim_run.Proc(srv_cmd, Path(f"{base}-server.log"), env)
        procs.append(server)
        served = _counter(server, sim_run.MONITOR)
        deadline = time.monotonic() + READY_TIMEOUT
        while served() == 0 and server.popen.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        if served() == 0:
            problems.append(f"floor server took nothing: {server.last_line()}")
        cli_cmd = sim_run._client_cmd(sim, ep, wl, topic, st, Path(f"{base}-client.json"))
        client = sim_run.Proc(cli_cmd, Path(f"{base}-client.log"), env)
        procs.append(client)
        length = max(1.0, st.duration - sim_run.CPU_WARM_UP - sim_run.CPU_TAIL)
        counters = {"client": _counter(client, CLIENT_LINE), "server": served}
        pids = {"client": client.popen.pid, "server": server.popen.pid}
        windows = {
            who: CpuWindow({who: pids[who]}, counters[who], sim_run.CPU_WARM_UP, length).start()
            for who in pids
        }
        rc = client.popen.wait(timeout=st.duration + 60)
        if rc != 0:
            problems.append(f"floor client exit code {rc}: {client.last_line()}")
        results = {who: _window_rate(w.finish(), who) for who, w in windows.items()}
        try:
            server.popen.wait(timeout=SERVER_EXTRA + 30)
        except subprocess.TimeoutExpired:
            problems.append("floor server did not stop after its -l")
        for who, proc in (("client", client), ("server", server)):
            count, first = sim_run._log_problems(proc.text())
            if count:
                problems.append(f"floor {who} log: {count} ERROR/WARNING line(s), first: {first}")
        return {
            "transport": FLOOR,
            "workload": wl.name,
            "round": rnd,
            **results,
            "problems": problems,
        }
    finally:
        for proc in procs:
            proc.stop()


def compared_row(row: dict[str, Any]) -> dict[str, Any]:
    """A RabbitMQ or zmq run reduced to the same measures as the floor's."""
    window = row.get("cpu") or {}
    out: dict[str, Any] = {
        "transport": row["transport"],
        "workload": row["workload"],
        "round": row["round"],
        "headline_per_s": row.get("msgs_per_s"),
        "span_per_s": row.get("span_per_s"),
        "problems": row["problems"],
        "loss": row.get("loss"),
        "errors": row.get("errors"),
    }
    out["per_s"] = row.get("span_per_s")
    out["cpu_us"] = dict(window.get("us_per_msg") or {})
    out["switches"] = dict(window.get("switches_per_msg") or {})
    if window.get("messages"):  # interpreter and libzmq threads apart
        out["cpu_split_us"] = {
            who: {part: round(sec * 1e6 / window["messages"]) for part, sec in parts.items()}
            for who, parts in window["cpu_s"].items()
        }
    return out


SWITCH_KINDS = ("voluntary", "involuntary")


def _switch_sum(per_process: list[dict[str, float] | None], kind: str) -> float | None:
    """Context switches per message of kind, summed over the processes (None if one
    of them has no count)."""
    if not per_process or any(not counts for counts in per_process):
        return None
    return round(sum(counts[kind] for counts in per_process), 2)


def summarize(rows: list[dict[str, Any]], workloads: list[str]) -> list[dict[str, Any]]:
    med = sim_run._median
    out = []
    for wl in workloads:
        mine = [r for r in rows if r["workload"] == wl]
        floors = [r for r in mine if r["transport"] == FLOOR]
        entry: dict[str, Any] = {"workload": wl, "rounds": len(floors)}
        for side in ("client", "server"):
            entry[f"floor_{side}_per_s"] = med([r[side].get("per_s") for r in floors])
            entry[f"floor_{side}_cpu_us"] = med([r[side].get("cpu_us") for r in floors])
        for kind in SWITCH_KINDS:
            entry[f"floor_{kind}_switches"] = med(
                [
                    _switch_sum([r[side].get("switches") for side in ("client", "server")], kind)
                    for r in floors
                ]
            )
        rounds: dict[int, dict[str, float]] = {}
        for r in floors:
            if r["client"].get("per_s") and r["server"].get("per_s"):
                ceiling = min(r["client"]["per_s"], r["server"]["per_s"])
                rounds.setdefault(r["round"], {})["ceiling"] = ceiling
        for name in COMPARED:
            runs = [r for r in mine if r["transport"] == name]
            entry[f"{name}_per_s"] = med([r["per_s"] for r in runs])
            for who in ("client", "server", "broker"):
                entry[f"{name}_{who}_cpu_us"] = med([r["cpu_us"].get(who) for r in runs])
            for kind in SWITCH_KINDS:
                entry[f"{name}_{kind}_switches"] = med(
                    [_switch_sum(list((r.get("switches") or {}).values()), kind) for r in runs]
                )
            for r in runs:
                if r["per_s"]:
                    rounds.setdefault(r["round"], {})[name] = r["per_s"]
        entry["ceiling_per_s"] = med([got.get("ceiling") for got in rounds.values()])

        def ratio(top: str, bottom: str, got: dict[str, float]) -> float | None:
            return got[top] / got[bottom] if got.get(top) and got.get(bottom) else None

        # ratios within each round (the three ran minutes apart), then their median
        by_round = list(rounds.values())
        for key, top, bottom in (
            ("ceiling_over_rabbit", "ceiling", "rabbit"),
            ("zmq_over_rabbit", "zmq-curve", "rabbit"),
            ("zmq_share_of_ceiling", "zmq-curve", "ceiling"),
        ):
            entry[key] = med([ratio(top, bottom, got) for got in by_round])
            entry[f"{key}_rounds"] = [
                None if (v := ratio(top, bottom, got)) is None else round(v, 2)
                for _rnd, got in sorted(rounds.items())
            ]
        goal = sim_run.GOALS.get(wl)
        ceiling_ratio = entry["ceiling_over_rabbit"]
        # the share of the ceiling a transport must reach to meet the goal
        needs = round(goal / ceiling_ratio, 2) if goal and ceiling_ratio else None
        entry["goal_needs_share"] = needs
        entry["goal"] = sim_run.GOALS.get(wl)
        out.append(entry)
    return out


_f = sim_run._f


def _list(values: list[float | None]) -> str:
    return ", ".join(_f(v) for v in values)


def _trio(entry: dict[str, Any], name: str) -> str:
    return " / ".join(_f(entry[f"{name}_{who}_cpu_us"]) for who in ("client", "server", "broker"))


def markdown(doc: dict[str, Any]) -> str:
    meta = doc["meta"]
    lines = [
        "# The simulator's ceiling: a transport that moves nothing, beside RabbitMQ and zmq",
        "",
        f"Measured {meta['started']} on {meta['machine']}.",
        f"Load average before/after: {meta['load_before']} / {meta['load_after']}.",
        f"Settings: {meta['settings']}.",
        f"Versions: {meta['versions']}.",
        f"Simulator: oslo.messaging {meta['simulator']['version']} tools/simulator.py, unchanged, "
        f"sha256 `{meta['simulator']['sha256']}`.",
        f"Command: `{meta['command']}`",
        "",
        "msg/s, RabbitMQ and zmq (CURVE): the simulator's count from the client's start to",
        "its last bucket (calls answered, casts taken). floor client / server: each floor",
        "process's own steady rate over the middle of its run, both running at once.",
        "ceiling: the lower of the two in each round: no transport can make this simulator",
        "go faster on this machine (if anything it is too high: no first second in it).",
        "Rates: medians over rounds. goal needs: the goal over ceiling / RabbitMQ, the",
        "share of the ceiling a transport must reach to meet it.",
        "",
        "| workload | RabbitMQ | zmq | floor client | floor server | ceiling "
        "| ceiling / RabbitMQ | zmq / RabbitMQ | zmq / ceiling | goal | goal needs "
        "of the ceiling |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for e in doc["summary"]:
        goal = f">= {e['goal']:g}x" if e["goal"] else ""
        lines.append(
            f"| {e['workload']} | {_f(e['rabbit_per_s'])} | {_f(e['zmq-curve_per_s'])} "
            f"| {_f(e['floor_client_per_s'])} | {_f(e['floor_server_per_s'])} "
            f"| {_f(e['ceiling_per_s'])} | {_f(e['ceiling_over_rabbit'])} "
            f"| {_f(e['zmq_over_rabbit'])} | {_f(e['zmq_share_of_ceiling'])} | {goal} "
            f"| {_f(e['goal_needs_share'])} |"
        )
    lines += [
        "",
        "Ratios are taken within each round, then their median; per round:",
        "",
    ]
    for e in doc["summary"]:
        lines.append(
            f"- {e['workload']}: ceiling / RabbitMQ {_list(e['ceiling_over_rabbit_rounds'])}; "
            f"zmq / RabbitMQ {_list(e['zmq_over_rabbit_rounds'])}; "
            f"zmq / ceiling {_list(e['zmq_share_of_ceiling_rounds'])}"
        )
    lines += [
        "",
        "## CPU µs per message (client / server; broker where there is one)",
        "",
        "| workload | RabbitMQ | zmq | floor |",
        "|---|---|---|---|",
    ]
    for e in doc["summary"]:
        lines.append(
            f"| {e['workload']} | {_trio(e, 'rabbit')} | {_trio(e, 'zmq-curve')} "
            f"| {_f(e['floor_client_cpu_us'])} / {_f(e['floor_server_cpu_us'])} |"
        )
    if any(e.get("floor_voluntary_switches") is not None for e in doc["summary"]):
        lines += [
            "",
            "## Context switches per message (voluntary / involuntary)",
            "",
            "All threads of client, server and broker, over the same windows as the CPU:",
            "voluntary, a thread waited (a wake-up each); involuntary, the scheduler took",
            "its CPU away. Medians over rounds.",
            "",
            "| workload | RabbitMQ | zmq | floor |",
            "|---|---:|---:|---:|",
        ]
        for e in doc["summary"]:
            cells = [
                f"{_f(e.get(f'{name}_voluntary_switches'))} / "
                f"{_f(e.get(f'{name}_involuntary_switches'))}"
                for name in (*COMPARED, "floor")
            ]
            lines.append(f"| {e['workload']} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "## Rounds",
        "",
        "| round | workload | transport | msg/s | detail |",
        "|---:|---|---|---:|---|",
    ]
    for r in doc["rows"]:
        if r["transport"] == FLOOR:
            detail = (
                f"client {_f(r['client'].get('per_s'))}/s, "
                f"server {_f(r['server'].get('per_s'))}/s, "
                f"busy {_f(r['server'].get('machine_busy_pct'))} %"
            )
            rate = min((r[s].get("per_s") or 0) for s in ("client", "server"))
        else:
            detail = f"headline {_f(r['headline_per_s'])}, loss {_f(r['loss'])}, CPU {r['cpu_us']}"
            rate = r["per_s"]
        lines.append(
            f"| {r['round'] + 1} | {r['workload']} | {r['transport']} | {_f(rate)} | {detail} |"
        )
    problems = [
        f"{r['transport']} {r['workload']} r{r['round'] + 1}: {p}"
        for r in doc["rows"]
        for p in r["problems"]
    ]
    if problems:
        lines += ["", "## Problems", ""]
        lines += [f"- {n}" for n in problems]
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--workloads",
        default="cast,call-8",
        help="comma list of call-1, call-8, cast (default: cast,call-8)",
    )
    p.add_argument("--rounds", type=int, default=3, help="rounds of all three (3)")
    p.add_argument("--duration", type=int, default=15, help="the simulator's -l (15)")
    p.add_argument("--cache", type=Path, default=sim_run.CACHE)
    p.add_argument("--out", type=Path, default=HERE / "results")
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args(argv)
    args.workload_list = sim_run.parse_workloads(args.workloads, p)
    if any(w.kind == "notify" for w in args.workload_list):
        p.error("floor:// measures RPC only: call-1, call-8, cast")
    if args.rounds < 1 or args.duration < 8:
        p.error("--rounds >= 1 and --duration >= 8 (the CPU window needs the middle of a run)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, sim_run._terminate)
    started = datetime.datetime.now(datetime.UTC)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    log_dir = Path(tempfile.mkdtemp(prefix=f"bench-logs-{stamp}-floor-"))
    st = sim_run.Settings(duration=args.duration, log_dir=log_dir)
    sim = sim_run.obtain(metadata.version("oslo.messaging"), args.cache, log)
    floor_path = install_floor(Path(tempfile.mkdtemp(prefix="bench-floor-driver-")))
    rows: list[dict[str, Any]] = []
    load_before = environment.loadavg()
    try:
        with contextlib.ExitStack() as stack:
            stack.callback(shutil.rmtree, floor_path, True)
            up = [sim_run.bring_up(name, stack, log_dir) for name in COMPARED]
            for ep in up:
                sim_run.run_one(
                    sim,
                    ep,
                    sim_run.WORKLOADS[0],
                    0,
                    sim_run.Settings(duration=2, log_dir=log_dir),
                    tag="warmup",
                )
            for rnd in range(args.rounds):
                for wl in args.workload_list:
                    order: list[Any] = [*up, FLOOR]
                    if rnd % 2:
                        order.reverse()
                    for ep in order:
                        name = ep if ep == FLOOR else ep.name
                        log(f"[{name}] round {rnd + 1}/{args.rounds} {wl.name} ...")
                        if ep == FLOOR:
                            row = run_floor(sim, wl, rnd, st, floor_path)
                            log(
                                f"[{name}] {wl.name}: client {row['client']}, "
                                f"server {row['server']}"
                            )
                        else:
                            row = compared_row(sim_run.run_one(sim, ep, wl, rnd, st))
                            log(
                                f"[{name}] {wl.name}: {row['per_s']} msg/s in the window, "
                                f"CPU {row['cpu_us']}"
                            )
                        rows.append(row)
    except KeyboardInterrupt:
        log("interrupted: every process started here has been stopped; nothing written")
        return 130
    doc = {
        "meta": {
            **environment.run_meta(started.isoformat(timespec="seconds"), load_before),
            "simulator": {"version": sim.version, "sha256": sim.sha256},
            "settings": (
                f"-l {st.duration} s per run, {args.rounds} round(s), rpc-server -e "
                f"{st.executor}, RabbitMQ, zmq-curve and floor take turns per "
                "workload, order flipped every round"
            ),
            "command": " ".join(["simulator_floor.py"] + (sys.argv[1:] if argv is None else argv)),
            "log_dir": str(log_dir),
        },
        "summary": summarize(rows, [w.name for w in args.workload_list]),
        "rows": rows,
    }
    text = markdown(doc)
    if not args.no_write:
        args.out.mkdir(parents=True, exist_ok=True)
        for suffix, body in ((".json", json.dumps(doc, indent=2) + "\n"), (".md", text)):
            path = args.out / f"{stamp}-simulator-floor{suffix}"
            path.write_text(body)
            log(f"wrote {path}")
    print()
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
