#!/usr/bin/env python3
"""Where the proxy's time goes: the bare round trip of proxy_raw.py through a
real oslo-messaging-zmq-proxy, with the CPU seconds of every process per round
trip and, with --py-spy, a sampled profile of the proxy.

Run by hand (not part of run.py):

    python bench/proxy_profile.py --window 8 --duration 20 --py-spy /path/to/py-spy

Writes results/proxy-profile-<stamp>.md (table + top functions by own time)
and, with --py-spy, results/proxy-profile-<stamp>.folded (collapsed stacks:
feed to flamegraph.pl or speedscope)."""

from __future__ import annotations

import argparse
import collections
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import environment
import zmq_proxy

HERE = Path(__file__).resolve().parent
_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process, all its threads."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def _spawn(role: str, common: list[str], log, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(HERE / "proxy_raw.py"), role, *common, *extra],
        stdout=subprocess.PIPE,
        stderr=log,
        stdin=subprocess.DEVNULL,
        text=True,
        cwd=str(HERE),
    )


def top_functions(folded: Path, limit: int = 25) -> tuple[int, list[tuple[str, int, int]]]:
    """(samples, [(function, own samples, total samples)]) from collapsed stacks."""
    own: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    samples = 0
    for line in folded.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        samples += count
        frames = [f for f in stack.split(";") if not f.startswith("process ")]
        if not frames:
            continue
        own[frames[-1]] += count
        for frame in set(frames):
            total[frame] += count
    rows = [(name, n, total[name]) for name, n in own.most_common(limit)]
    return samples, rows


def run(args: argparse.Namespace) -> dict:
    log_dir = Path(tempfile.mkdtemp(prefix="bench-profile-"))
    log = open(log_dir / "peers.log", "ab")  # noqa: SIM115 - inherited by the children
    with zmq_proxy.ZmqProxy(not args.plain, log_dir, name="profile") as proxy:
        pid = proxy.pid
        common = ["--endpoint", f"tcp://127.0.0.1:{proxy.port}", "--config", str(proxy.client_conf)]
        echo = _spawn("echo", common, log)
        try:
            assert echo.stdout is not None
            json.loads(echo.stdout.readline())
            window, duration = str(args.window), str(args.duration)
            client = _spawn("client", common, log, "--window", window, "--duration", duration)
            time.sleep(1.0)  # past connection set-up
            before = {name: cpu_seconds(p) for name, p in _pids(pid, echo, client).items()}
            t0 = time.monotonic()
            spy = None
            if args.py_spy:
                spy = subprocess.Popen(
                    [
                        args.py_spy,
                        "record",
                        "--nonblocking",
                        "--rate",
                        "250",
                        "--duration",
                        str(int(args.duration - 3)),
                        "--format",
                        "raw",
                        "--output",
                        str(args.folded),
                        "--pid",
                        str(pid),
                    ]
                    + (["--native"] if args.native else []),
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            time.sleep(args.duration - 2.5)
            after = {name: cpu_seconds(p) for name, p in _pids(pid, echo, client).items()}
            wall = time.monotonic() - t0
            stats_mid = proxy.metrics()
            out, _ = client.communicate(timeout=args.duration + 30)
            if spy is not None:
                spy.wait(timeout=60)
        finally:
            echo.terminate()
            echo.wait()
    result = json.loads(out.strip().splitlines()[-1])
    routed = stats_mid["counters"]["routed"] if isinstance(stats_mid, dict) else 0
    rate = result["msgs_per_s"]
    cpu = {name: after[name] - before[name] for name in after}
    return {
        "round_trips_per_s": rate,
        "p50_ms": result["p50_ms"],
        "p99_ms": result["p99_ms"],
        "cpu_s": cpu,
        "wall_s": wall,
        "cpu_us_per_round_trip": {n: 1e6 * c / (rate * wall) for n, c in cpu.items()},
        "proxy_routed": routed,
    }


def _pids(proxy_pid: int, echo, client) -> dict[str, int]:
    return {"proxy": proxy_pid, "echo": echo.pid, "client": client.pid}


def report(args: argparse.Namespace, res: dict) -> str:
    lines = [
        "# Proxy profile: bare round trip through oslo-messaging-zmq-proxy",
        "",
        f"Measured {res['stamp']} on {environment.machine()}; load average before/after "
        f"{res['load_before']} / {res['load_after']}.",
        f"Driver git {environment.driver_revision()}.",
        f"Security {'plain' if args.plain else 'curve'}, window {args.window}, "
        f"{args.duration:g} s, 1-3 KB bodies, peers of proxy_raw.py.",
        "",
        f"Round trips/s: **{res['round_trips_per_s']:,.0f}**, p50 {res['p50_ms']:.2f} ms, "
        f"p99 {res['p99_ms']:.2f} ms.",
        "",
        "| process | CPU s | CPU % | µs CPU per round trip |",
        "|---|---:|---:|---:|",
    ]
    for name, sec in res["cpu_s"].items():
        lines.append(
            f"| {name} | {sec:.2f} | {100 * sec / res['wall_s']:.0f} | "
            f"{res['cpu_us_per_round_trip'][name]:.1f} |"
        )
    if res.get("top"):
        samples, rows = res["top"]
        lines += [
            "",
            f"py-spy, {samples:,} samples of the proxy (own = the function itself, "
            "total = with what it calls):",
            "",
            "| function | own % | total % |",
            "|---|---:|---:|",
        ]
        for name, own, total in rows:
            lines.append(f"| `{name}` | {100 * own / samples:.1f} | {100 * total / samples:.1f} |")
    lines.append("")
    lines.append("Command: `" + " ".join(["python", "bench/proxy_profile.py", *sys.argv[1:]]) + "`")
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--window", type=int, default=8)
    p.add_argument("--duration", type=float, default=20.0)
    p.add_argument("--plain", action="store_true", help="security_mode plain (default curve)")
    p.add_argument("--py-spy", help="path of a py-spy binary: sample the proxy")
    p.add_argument("--native", action="store_true", help="py-spy --native (C frames too)")
    p.add_argument("--out", type=Path, default=HERE / "results")
    p.add_argument("--name", default="", help="suffix of the result files")
    p.add_argument("--no-write", action="store_true")
    p.add_argument("--json", action="store_true", help="print the result as one JSON line only")
    args = p.parse_args()
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    base = args.out / f"proxy-profile-{stamp}{'-' + args.name if args.name else ''}"
    args.folded = base.with_suffix(".folded")
    load_before = environment.loadavg()
    res = run(args)
    res["stamp"] = stamp
    res["load_before"] = load_before
    res["load_after"] = environment.loadavg()
    if args.py_spy and args.folded.exists():
        res["top"] = top_functions(args.folded)
    if args.json:
        print(json.dumps(res))
        return
    text = report(args, res)
    print(text)
    if args.no_write:
        args.folded.unlink(missing_ok=True)
    else:
        base.with_suffix(".md").write_text(text)
        print(f"wrote {base.with_suffix('.md')}")


if __name__ == "__main__":
    main()
