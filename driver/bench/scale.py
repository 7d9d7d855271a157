#!/usr/bin/env python3
"""Scale simulation: N nova-compute-like listeners (default 1,000) on two proxies.

Not a pass/fail test. In one run on this machine:
  1. two real oslo-messaging-zmq-proxy processes (CURVE unless --plain);
  2. listener worker processes with --per-process real oslo.messaging RPC servers
     each (own transport, own routing id, topic compute, server host-NNNN,
     exchange nova);
  3. routing throughput with real driver senders (call and cast to random hosts)
     at --base listeners (10) and at N, same sender load: msgs/s, p50/p99, each
     proxy's RSS and CPU; registration load (time until N are registered,
     messages/s and CPU % of each proxy while idle);
  4. churn: pct% of the listeners restart per minute while casts go to random
     hosts; counted by message id (sent, executed once, lost, duplicated, sent
     while the host was down).
Writes results/<stamp>-scale.{json,md} and results/latest-scale.{json,md}.
See README.md ("Scale simulation").
"""

from __future__ import annotations

import argparse
import datetime
import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import environment
import latency
import scale_churn
import scale_count
import scale_report
from scale_lab import Lab, Meter
from scale_sender import host_name

HERE = Path(__file__).resolve().parent
T0 = time.monotonic()
HEARTBEAT = 1.0  # the driver's default heartbeat_interval: one REGISTER per listener and proxy


def log(msg: str) -> None:
    print(f"[{time.monotonic() - T0:6.1f}s] {msg}", flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--listeners", type=int, default=1000, help="N listeners (1000)")
    p.add_argument("--base", type=int, default=10, help="the small case (10 listeners)")
    p.add_argument("--per-process", type=int, default=100, help="listeners per worker (100)")
    p.add_argument(
        "--listener-kind",
        choices=("bare", "driver"),
        default="bare",
        help="listeners of the throughput and registration phases (bare; see README.md)",
    )
    p.add_argument(
        "--churn-kind",
        choices=("bare", "driver"),
        default="bare",
        help="listeners of the churn phase (bare; driver: real oslo.messaging RPC servers, "
        "which fit this machine at 200, not at 1000: see README.md)",
    )
    p.add_argument(
        "--executor-threads",
        type=int,
        default=2,
        help="executor_thread_pool_size of each RPC server (2; oslo.messaging's 64 does not "
        "fit, see README.md)",
    )
    p.add_argument("--senders", type=int, default=2, help="sender processes (2)")
    p.add_argument("--threads", type=int, default=4, help="threads per sender (4)")
    p.add_argument("--window", type=float, default=10.0, help="s per throughput window (10)")
    p.add_argument("--idle", type=float, default=10.0, help="s of idle measurement (10)")
    p.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="windows of the small and the large case, alternated this many times; the goals "
        "take each case's median (3)",
    )
    p.add_argument("--call-timeout", type=float, default=10.0)
    p.add_argument("--churn-duration", type=float, default=180.0, help="s of churn (180; 0: none)")
    p.add_argument("--churn-pct", type=float, default=10.0, help="%% restarted per minute (10)")
    p.add_argument("--churn-mode", choices=("stop", "kill"), default="stop")
    p.add_argument("--down-time", type=float, default=5.0, help="s a restarting host is down (5)")
    p.add_argument("--cast-rate", type=float, default=100.0, help="casts/s during churn (100)")
    p.add_argument("--drain", type=float, default=90.0, help="max s to wait for casts to run")
    p.add_argument("--register-timeout", type=float, default=300.0)
    p.add_argument("--hold-ttl", type=float, help="proxy hold_ttl (proxy default: 60)")
    p.add_argument(
        "--proxy-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="another [zmq_proxy] option of both proxies, e.g. core=python (repeatable)",
    )
    p.add_argument("--plain", action="store_true", help="security_mode=plain (default CURVE)")
    p.add_argument("--out", type=Path, default=HERE / "results")
    p.add_argument("--no-write", action="store_true", help="print only, write no result files")
    args = p.parse_args(argv)
    if not 0 < args.base <= args.listeners:
        p.error("--base must be between 1 and --listeners")
    if args.rounds < 1:
        p.error("--rounds must be at least 1")
    if any("=" not in option for option in args.proxy_option):
        p.error("--proxy-option takes KEY=VALUE")
    return args


def activate(lab: Lab, first: int, count: int, timeout: float, kind: str) -> dict[str, Any]:
    """Start listeners first..count-1; time until both proxies list all count of them."""
    hosts = [host_name(h) for h in range(first, count)]
    t0 = time.monotonic()
    lab.activate(hosts, kind)
    took = lab.wait_registered(count, timeout)
    if took is None:
        got = [lab.registered(s) for s in lab.proxy_stats()]
        raise RuntimeError(f"only {got} of {count} listeners registered after {timeout:.0f} s")
    out: dict[str, Any] = {"listeners": count, "kind": kind, "started": len(hosts)}
    out["seconds"] = round(time.monotonic() - t0, 2)
    return out


def switch_kind(lab: Lab, kind: str, args: argparse.Namespace, doc: dict[str, Any]) -> None:
    """Replace every listener by one of the other kind (same hosts, new routing ids)."""
    n = args.listeners
    log(f"[{n} listeners] replacing the {lab.kind} listeners by {kind} ones")
    lab.deactivate([host_name(h) for h in range(n)])
    if lab.wait_registered(0, args.register_timeout) is None:
        raise RuntimeError("the proxies still list listeners after they all stopped")
    reg = activate(lab, 0, n, args.register_timeout, kind)
    doc["registration"].append(reg)
    log(f"  all {n} {kind} listeners registered on both proxies in {reg['seconds']} s")
    doc["idle"].append(idle(lab, args.idle, n))
    _health(doc, f"idle, {n:,} {kind}", doc["idle"][-1])
    log(f"  idle: {scale_report.idle_line(doc['idle'][-1])}")


def idle(lab: Lab, seconds: float, count: int) -> dict[str, Any]:
    """Registration/heartbeat load: what each proxy receives and burns with nobody sending."""
    time.sleep(1.0)  # the last window's answers and the proxies' 0.25 s snapshots settle
    meter = Meter(lab)
    time.sleep(seconds)
    m = meter.finish()
    proxies = []
    for a, b, cpu, split, counters in zip(
        m.pop("stats0"),
        m.pop("stats"),
        m["proxy_cpu_s"],
        m["proxy_cpu_split_s"],
        m["proxy_counters"],
        strict=True,
    ):
        dt = float(b.get("uptime_seconds", 0)) - float(a.get("uptime_seconds", 0)) or seconds
        received = counters["received"] / dt
        clients = int(b["peers"]["clients"])
        proxies.append(
            {
                "received_per_s": round(received, 1),
                "clients": clients,
                # every client pings each proxy once per heartbeat; the rest are REGISTERs
                "register_per_s": round(received - clients / HEARTBEAT, 1),
                # the share of the messages the native core handled without Python
                "native_pct": round(
                    100 * counters["native_handled"] / max(1, counters["received"]), 1
                ),
                "cpu_pct": round(cpu / m["seconds"] * 100, 1),
                "python_cpu_pct": round(split.get("python", 0) / m["seconds"] * 100, 1),
                "libzmq_cpu_pct": round(split.get("libzmq", 0) / m["seconds"] * 100, 1),
                "rss_mb": round(b["rss_bytes"] / 2**20, 1),
                "listeners": int(b["peers"]["listeners"]),
            }
        )
    workers = lab.worker_stats()
    return {
        "listeners": count,
        "kind": lab.kind,
        "seconds": m["seconds"],
        "proxies": proxies,
        "listener_processes": len(workers),
        "listener_cpu_pct": round(m["listener_cpu_s"] / m["seconds"] * 100, 1),
        "listener_rss_mb": round(sum(w["rss_bytes"] for w in workers) / 2**20, 1),
        "listener_threads": sum(w["threads"] for w in workers),
        "other_cpu_pct": round(m["other_cpu_s"] / m["seconds"] * 100, 1),
        "log": m["log"],
    }


def window(
    lab: Lab,
    count: int,
    kind: str,
    args: argparse.Namespace,
    idle_cpu_pct: list[float],
    rnd: int,
) -> dict[str, Any]:
    """One throughput window: every sender thread calls or casts to random hosts."""
    phase = f"n{count}-{kind}-r{rnd}"
    meter = Meter(lab)
    cmd = {
        "op": "run",
        "phase": phase,
        "kind": kind,
        "hosts": count,
        "threads": args.threads,
        "duration": args.window,
        "rate": 0,
        "timeout": args.call_timeout,
    }
    answers = lab.run_senders(cmd, args.window + args.call_timeout + 60)
    ok = sum(a["ok"] for a in answers)
    row: dict[str, Any] = {
        "round": rnd,
        "listeners": count,
        "kind": lab.kind,
        "workload": kind,
        "threads": args.senders * args.threads,
        "sent": sum(a["sent"] for a in answers),
        "errors": sum(a["errors"] for a in answers),
        "timeouts": sum(a["timeouts"] for a in answers),
        "first_error": next((a["first_error"] for a in answers if a["first_error"]), ""),
    }
    if kind == "call":
        seconds = max(a["seconds"] for a in answers)
        row["msgs_per_s"] = round(ok / max(seconds, 1e-9), 1)
        row.update(latency.summarize([x / 1000 for a in answers for x in a["lat_ms"]]))
        row["lost"] = row["timeouts"] + row["errors"]
        row["dups"] = None  # calls are not recorded by the listeners
    else:
        deadline = time.monotonic() + args.drain
        while scale_count.executed_count(lab.exec_files(), phase) < ok:
            if time.monotonic() > deadline:
                break
            time.sleep(0.5)
        summary = scale_count.summary(scale_count.read(lab.sent_files(), lab.exec_files(), phase))
        row["msgs_per_s"] = summary["msgs_per_s"]
        row.update({k: summary[k] for k in ("p50_ms", "p99_ms", "max_ms")})
        row["lost"] = summary["lost"]
        row["dups"] = summary["duplicated"]
        row["wrong_host"] = summary["wrong_host"]
    m = meter.finish()
    m.pop("stats0")
    m.pop("stats")
    row.update(m)
    row["proxy_routed"] = [c["routed"] for c in m["proxy_counters"]]
    routed = sum(row["proxy_routed"])
    cpu = sum(m["proxy_cpu_s"])
    # what one routed message costs the proxies, with and without their idle
    # (REGISTER) load of the same listeners
    row["proxy_us_per_msg"] = round(cpu / routed * 1e6, 1) if routed else None
    fixed = sum(idle_cpu_pct) / 100 * m["seconds"]
    row["proxy_us_per_msg_net"] = round((cpu - fixed) / routed * 1e6, 1) if routed else None
    return row


def _health(doc: dict[str, Any], phase: str, measured: dict[str, Any]) -> None:
    """What the logs said during a phase, in the order of the phases."""
    doc["health"].append({"phase": phase, "log": measured["log"]})


def throughput(
    lab: Lab,
    count: int,
    args: argparse.Namespace,
    idle_run: dict[str, Any],
    doc: dict[str, Any],
    rnd: int = 1,
) -> list[dict[str, Any]]:
    rows = []
    idle_cpu = [p["cpu_pct"] for p in idle_run["proxies"]]
    for kind in ("call", "cast"):
        log(f"[{count} listeners, round {rnd}] {kind} to random hosts, {args.window:g} s")
        row = window(lab, count, kind, args, idle_cpu, rnd)
        _health(doc, f"{kind}, {count:,} {lab.kind}, round {rnd}", row)
        log(
            f"  {row['msgs_per_s']:,.0f} msgs/s, p50 {row['p50_ms']:.1f} ms, p99 "
            f"{row['p99_ms']:.1f} ms, lost {row['lost']}, dups {row['dups']}, proxy RSS "
            f"{row['proxy_rss_mb']} MB, CPU s: proxies {row['proxy_cpu_s']}, listeners "
            f"{row['listener_cpu_s']}, senders {row['sender_cpu_s']}, other processes "
            f"{row['other_cpu_s']} in {row['seconds']} s"
        )
        rows.append(row)
    return rows


def measure(lab: Lab, args: argparse.Namespace, doc: dict[str, Any]) -> None:
    n, base = args.listeners, args.base
    log(f"starting 2 proxies ({'plain' if args.plain else 'CURVE'}) on 127.0.0.1")
    lab.start_proxies()
    doc["meta"]["url"] = lab.url
    log(
        f"starting {lab.workers_count} listener workers (up to {args.per_process} listeners "
        f"each) and {args.senders} senders"
    )
    t0 = time.monotonic()
    lab.start_workers()
    doc["startup_s"] = round(time.monotonic() - t0, 1)
    log(f"  workers ready in {doc['startup_s']} s")

    log(f"[{base} listeners] starting them")
    kind = args.listener_kind
    doc["registration"] = [activate(lab, 0, base, args.register_timeout, kind)]
    log(f"  all {base} registered on both proxies in {doc['registration'][0]['seconds']} s")
    lab.run_senders(  # connections and first-use costs out of the measured windows
        {
            "op": "run",
            "phase": "warmup",
            "kind": "call",
            "hosts": base,
            "threads": 1,
            "duration": 2,
            "timeout": args.call_timeout,
        },
        60,
    )
    doc["health"] = []
    doc["idle"] = [idle(lab, args.idle, base)]
    _health(doc, f"idle, {base:,} {lab.kind}", doc["idle"][-1])
    log(f"  idle: {scale_report.idle_line(doc['idle'][0])}")
    doc["results"] = throughput(lab, base, args, doc["idle"][0], doc)

    if n > base:
        log(f"[{n} listeners] starting {n - base} more")
        reg = activate(lab, base, n, args.register_timeout, kind)
        doc["registration"].append(reg)
        log(f"  all {n} registered on both proxies in {reg['seconds']} s")
        doc["idle"].append(idle(lab, args.idle, n))
        _health(doc, f"idle, {n:,} {lab.kind}", doc["idle"][-1])
        log(f"  idle: {scale_report.idle_line(doc['idle'][-1])}")
        doc["results"] += throughput(lab, n, args, doc["idle"][-1], doc)
        for rnd in range(2, args.rounds + 1):
            alternate(lab, args, doc, rnd)

    if args.churn_duration > 0:
        if args.churn_kind != lab.kind:
            switch_kind(lab, args.churn_kind, args, doc)
        st = scale_churn.Settings(
            duration=args.churn_duration,
            pct_per_min=args.churn_pct,
            mode=args.churn_mode,
            down=args.down_time,
            rate=args.cast_rate,
            drain=args.drain,
        )
        log(
            f"[churn] {args.churn_pct:g}% of {n} {lab.kind} listeners restart per minute "
            f"({st.mode}), "
            f"{st.rate:g} casts/s to random hosts, {st.duration:g} s"
        )
        doc["churn"] = scale_churn.run(lab, st, log)
        _health(doc, f"churn, {n:,} {lab.kind}", doc["churn"])
        log(f"  {scale_report.churn_line(doc['churn'])}")


def alternate(lab: Lab, args: argparse.Namespace, doc: dict[str, Any], rnd: int) -> None:
    """One more round: back to the small case (the extra listeners stop cleanly), its
    windows, the large case again (new routing ids), its windows.  On a shared machine
    the load of the neighbours drifts; alternating puts both cases under the same drift."""
    n, base = args.listeners, args.base
    log(f"[round {rnd}] stopping listeners {base}..{n - 1}")
    lab.deactivate([host_name(h) for h in range(base, n)])
    if lab.wait_registered(base, args.register_timeout) is None:
        raise RuntimeError(f"the proxies still list more than {base} listeners")
    doc["results"] += throughput(lab, base, args, doc["idle"][0], doc, rnd)
    reg = activate(lab, base, n, args.register_timeout, lab.kind)
    log(f"  all {n} registered on both proxies in {reg['seconds']} s")
    doc["results"] += throughput(lab, n, args, doc["idle"][-1], doc, rnd)


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # Ctrl-C and SIGTERM stop everything this run started (a shell's background job
    # inherits SIGINT ignored; the default SIGTERM would orphan the processes)
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    started = datetime.datetime.now(datetime.UTC)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    log_dir = Path(tempfile.mkdtemp(prefix=f"scale-{stamp}-"))
    import oslo_messaging_zmq

    est = 40 + 2 * (2 * args.window + args.idle + 15) + args.churn_duration + 30
    est += (args.rounds - 1) * (4 * args.window + 40)
    log(
        f"plan: {args.base} then {args.listeners} listeners, churn {args.churn_duration:g} s; "
        f"about {est / 60:.0f} min; logs and records in {log_dir}"
    )
    log(f"driver from {Path(oslo_messaging_zmq.__file__).parent}")
    doc: dict[str, Any] = {
        "meta": {
            "started": started.isoformat(timespec="seconds"),
            "machine": environment.machine(),
            "load_before": environment.loadavg(),
            "versions": environment.versions(),
            "driver_path": str(Path(oslo_messaging_zmq.__file__).parent),
            "command": " ".join([os.path.relpath(sys.argv[0])] + sys.argv[1:]),
            "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
            "log_dir": str(log_dir),
        },
        "results": [],
    }
    proxy_options = dict(option.split("=", 1) for option in args.proxy_option)
    if args.hold_ttl is not None:
        proxy_options["hold_ttl"] = str(args.hold_ttl)
    lab = Lab(
        not args.plain,
        args.listeners,
        args.per_process,
        args.senders,
        args.executor_threads,
        proxy_options,
        log_dir,
        log,
    )
    complete = False
    try:
        measure(lab, args, doc)
        complete = True
    except KeyboardInterrupt as exc:
        log(f"interrupted ({exc or 'SIGINT'})")
    finally:
        log("stopping senders, listener workers and proxies")
        lab.close()
    doc["meta"]["load_after"] = environment.loadavg()
    doc["meta"]["seconds"] = round(time.monotonic() - T0, 1)
    doc["goals"] = scale_report.goals(doc)
    text = scale_report.markdown(doc)
    if complete and not args.no_write:
        for path in scale_report.write(doc, args.out, stamp):
            log(f"wrote {path}")
    print()
    print(text)
    log(f"done in {(time.monotonic() - T0) / 60:.1f} min")
    return 0 if complete else 130


if __name__ == "__main__":
    sys.exit(main())
