#!/usr/bin/env python3
"""Benchmark oslo.messaging on zmq and on RabbitMQ in one run on this machine.

Workloads as oslo.messaging's tools/simulator.py: RPC call with 1 and 8
client threads, cast, notify, 1-3 KB messages; plus the raw pyzmq round trip
through a Python ROUTER as the ceiling. Writes results/<stamp>.{json,md} and
results/latest.{json,md}. Not a pass/fail test. See README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import environment
import om_bench
import rabbit
import raw_bench
import results
import zmq_proxy

HERE = Path(__file__).resolve().parent
OM_TRANSPORTS = ("rabbit", "zmq-curve", "zmq-plain")
RAW_TRANSPORTS = ("raw-plain", "raw-curve", "proxy-plain", "proxy-curve")
ALIASES = {"zmq": "zmq-curve", "raw": "raw-curve"}
T0 = time.monotonic()


def log(msg: str) -> None:
    print(f"[{time.monotonic() - T0:6.1f}s] {msg}", flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument(
        "--transports",
        default=",".join(OM_TRANSPORTS + RAW_TRANSPORTS),
        help="comma list of rabbit, zmq-curve (alias zmq), zmq-plain, raw-plain, raw-curve, "
        "proxy-plain, proxy-curve (default: all; zmq-* and proxy-* are skipped with a note "
        "when the driver is not installed)",
    )
    p.add_argument("--workloads", default=",".join(w.name for w in om_bench.WORKLOADS))
    p.add_argument("--duration", type=float, default=8.0, help="seconds per workload (8)")
    p.add_argument("--raw-duration", type=float, default=5.0, help="seconds per raw window (5)")
    p.add_argument("--windows", default="1,8", help="raw round-trip windows (1,8)")
    p.add_argument("--rounds", type=int, default=3, help="repeat every workload N times (3)")
    p.add_argument("--size", default="1024:3072", help="message bytes, MIN:MAX (1024:3072)")
    p.add_argument("--call-timeout", type=float, default=10.0)
    p.add_argument("--drain", type=float, default=15.0, help="max seconds to await stragglers")
    p.add_argument("--max-msgs", type=int, default=0, help="cap messages per workload (0: none)")
    p.add_argument(
        "--eventlet",
        action="store_true",
        help="run the oslo.messaging workers monkey-patched with the eventlet executor",
    )
    p.add_argument(
        "--first",
        type=int,
        default=10,
        help="new transports timed to their first call and cast (10; 0: skip)",
    )
    p.add_argument(
        "--zmq-option",
        action="append",
        default=[],
        metavar="OPTION=VALUE",
        help="a driver option ([oslo_messaging_zmq]) for the zmq workers, e.g. max_inflight=64",
    )
    p.add_argument("--out", type=Path, default=HERE / "results")
    p.add_argument("--no-write", action="store_true", help="print only, write no result files")
    p.add_argument(
        "--simulator",
        action="store_true",
        help="instead of the above: run oslo.messaging's own tools/simulator.py, unchanged,\n"
        "against rabbit, zmq-curve and zmq-plain (bench/simulator.py; its own flags:\n"
        "run.py --simulator --help); results go to results/latest-simulator.*",
    )
    args = p.parse_args(argv)
    wanted = [ALIASES.get(t.strip(), t.strip()) for t in args.transports.split(",") if t.strip()]
    unknown = set(wanted) - set(OM_TRANSPORTS + RAW_TRANSPORTS)
    if unknown:
        p.error(f"unknown transports: {', '.join(sorted(unknown))}")
    args.transport_list = wanted
    by_name = {w.name: w for w in om_bench.WORKLOADS}
    try:
        args.workload_list = tuple(by_name[w.strip()] for w in args.workloads.split(","))
    except KeyError as exc:
        p.error(f"unknown workload {exc}")
    return args


PROXY_KEYS = ("routed", "held", "delivered_from_hold", "dropped", "expired", "malformed")


def _proxy_counters(proxy: zmq_proxy.ZmqProxy) -> dict[str, Any] | str:
    """The proxy's own view of the run, to cross-check 'lost'."""
    got = proxy.metrics()
    if not isinstance(got, dict):
        return got
    counters = got.get("counters", {})
    out: dict[str, Any] = {k: counters.get(k) for k in PROXY_KEYS if k in counters}
    if "rss_bytes" in got:
        out["rss_mb"] = round(got["rss_bytes"] / 2**20, 1)
    return out


def _bring_up(
    name: str,
    st: om_bench.Settings,
    stack: contextlib.ExitStack,
    log_dir: Path,
    proxies: dict[str, zmq_proxy.ZmqProxy],
) -> om_bench.Transport:
    """Start the broker or proxy of one transport and its two workers."""
    with contextlib.ExitStack() as mine:
        if name == "rabbit":
            rabbit.ensure_installed(log)
            log("[rabbit] starting a private RabbitMQ node on 127.0.0.1")
            node = mine.enter_context(rabbit.RabbitNode(log))
            worker_args = ["--url", node.url]
        else:
            log(f"[{name}] starting oslo-messaging-zmq-proxy on 127.0.0.1")
            options = [o.replace("=", " = ", 1) for o in st.zmq_options]
            proxy = mine.enter_context(
                zmq_proxy.ZmqProxy(name == "zmq-curve", log_dir, client_options=options)
            )
            proxies[name] = proxy
            worker_args = proxy.worker_args
        transport = om_bench.Transport(name, worker_args, st, log)
        mine.callback(transport.close)
        stack.push(mine.pop_all())  # success: the caller now owns the clean-up
    return transport


def run_om(
    args: argparse.Namespace,
    names: list[str],
    log_dir: Path,
    notes: list[str],
    proxy_stats: dict[str, Any],
) -> list[dict[str, Any]]:
    """Bring every oslo.messaging transport up, then let them take turns per workload."""
    st = om_bench.Settings(
        duration=args.duration,
        size=args.size,
        call_timeout=args.call_timeout,
        drain=args.drain,
        max_msgs=args.max_msgs,
        workloads=args.workload_list,
        log_dir=log_dir,
        worker_extra=["--eventlet"] if args.eventlet else [],
        zmq_options=args.zmq_option,
    )
    rows: list[dict[str, Any]] = []
    with contextlib.ExitStack() as stack:
        up: list[om_bench.Transport] = []
        proxies: dict[str, zmq_proxy.ZmqProxy] = {}
        for name in names:
            try:
                up.append(_bring_up(name, st, stack, log_dir, proxies))
            except Exception as exc:  # one broken transport must not sink the others
                notes.append(f"{name} could not be measured: {exc}"[:600])
                log(notes[-1])
        for rnd in range(args.rounds):
            for wl in st.workloads:
                # alternate who goes first, so drifting background load hits all alike
                order = up if rnd % 2 == 0 else list(reversed(up))
                for transport in order:
                    rows.append(transport.run(wl, rnd))
        if args.first:
            for transport in up:
                try:
                    rows += om_bench.first_message(transport, args.first, log)
                except Exception as exc:  # noqa: BLE001 - reported, the rest goes on
                    notes.append(f"{transport.name} first message not measured: {exc}"[:600])
                    log(notes[-1])
        for name, proxy in proxies.items():
            proxy_stats[name] = _proxy_counters(proxy)
            log(f"[{name}] proxy counters: {proxy_stats[name]}")
        log("stopping workers, proxies and RabbitMQ")
    return rows


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--simulator" in argv:
        import simulator

        rest = [a for a in argv if a != "--simulator"]
        return simulator.main(rest, prog=f"{os.path.relpath(sys.argv[0])} --simulator")
    args = parse_args(argv)
    started = datetime.datetime.now(datetime.UTC)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    log_dir = Path(tempfile.mkdtemp(prefix=f"bench-logs-{stamp}-"))
    notes: list[str] = []
    names = list(args.transport_list)
    needs_driver = ("zmq", "proxy")
    if any(n.startswith(needs_driver) for n in names) and not zmq_proxy.driver_installed():
        notes.append("zmq driver not installed (pip install -e driver): zmq/proxy runs skipped")
        log(notes[-1])
        names = [n for n in names if not n.startswith(needs_driver)]
    om_names = [n for n in names if n in OM_TRANSPORTS]
    raw_names = [n for n in names if n in RAW_TRANSPORTS]
    windows = [int(w) for w in args.windows.split(",")]
    est = (
        len(om_names) * len(args.workload_list) * args.rounds * (args.duration + 3)
        + len(raw_names) * len(windows) * (args.raw_duration + 2)
        + 30 * len(om_names)
    )
    log(f"plan: {', '.join(names)}; about {est / 60:.1f} min; worker logs in {log_dir}")
    load_before = environment.loadavg()

    rows: list[dict[str, Any]] = []
    proxy_stats: dict[str, Any] = {}
    for name in raw_names:
        run = raw_bench.run_raw if name.startswith("raw") else raw_bench.run_proxy
        try:
            rows += run(name.endswith("curve"), windows, args.raw_duration, args.size, log_dir, log)
        except Exception as exc:  # a broken ceiling must not sink the rest
            notes.append(f"{name} could not be measured: {exc}"[:600])
            log(notes[-1])
    if om_names:
        rows += run_om(args, om_names, log_dir, notes, proxy_stats)

    agg = results.aggregate(rows)
    doc = {
        "meta": {
            "started": started.isoformat(timespec="seconds"),
            "machine": environment.machine(),
            "load_before": load_before,
            "load_after": environment.loadavg(),
            "versions": environment.versions(),
            "settings": (
                f"{args.duration:g}s per workload, {args.rounds} round(s), "
                f"{args.size} B messages, raw {args.raw_duration:g}s per window, "
                f"call timeout {args.call_timeout:g}s, "
                f"{'eventlet' if args.eventlet else 'threading'} executor"
                + "".join(f", {o}" for o in args.zmq_option)
            ),
            "command": " ".join([os.path.relpath(sys.argv[0])] + argv),
        },
        "results": agg,
        "ratios": results.ratios(agg),
        "targets": results.targets(agg),
        "notes": notes,
        "proxy_counters": proxy_stats,
        "raw_rows": rows,
    }
    text = results.markdown(doc)
    if not args.no_write:
        suffix = "-eventlet" if args.eventlet else ""
        for path in results.write(doc, args.out, stamp + suffix, "latest" + suffix):
            log(f"wrote {path}")
    print()
    print(text)
    log(f"done in {(time.monotonic() - T0) / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
