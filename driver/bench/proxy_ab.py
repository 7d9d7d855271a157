#!/usr/bin/env python3
"""The proxy's bare round trip, this checkout against another git revision, in
alternation on this machine (one proxy_profile.py run each, in turns, the order
flipped every round), so that background load does not favour either side.

    python bench/proxy_ab.py --base f3eebf8 --rounds 5 --duration 10

Each side runs with its own driver code (a temporary git worktree of --base on
PYTHONPATH for the base side): proxy and bare peers alike, as the wire format
may differ between revisions. Optional sides in the same alternation:

  --tuned "io_threads=2"  head again, with these [zmq_proxy] options
  --floor                 two relays with bare pyzmq peers and no header nor
                          routing table: raw_zmq.py's Python ROUTER that only
                          swaps two ids, and relay_c.py's zmq_proxy() with no
                          Python per message: what a relay on this machine's
                          libzmq reaches at best

Writes results/proxy-ab-<stamp>.{md,json}."""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import environment
import raw_bench

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent


def _worktree(rev: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix="bench-ab-")) / "tree"
    subprocess.run(
        ["git", "-C", str(REPO), "worktree", "add", "--detach", "-q", str(path), rev], check=True
    )
    return path


def _remove(path: Path) -> None:
    cmd = ["git", "-C", str(REPO), "worktree", "remove", "--force", str(path)]
    subprocess.run(cmd, check=False)


def _one(driver_dir: Path, plain: bool, window: int, duration: float, options: str = "") -> dict:
    env = dict(os.environ, PYTHONPATH=str(driver_dir), BENCH_PROXY_OPTIONS=options)
    cmd = [
        sys.executable,
        str(HERE / "proxy_profile.py"),
        "--json",
        "--no-write",
        "--window",
        str(window),
        "--duration",
        str(duration),
    ] + (["--plain"] if plain else [])
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True, cwd=str(HERE))
    return json.loads(out.stdout.strip().splitlines()[-1])


def _floor(run, plain: bool, window: int, duration: float) -> dict:
    log_dir = Path(tempfile.mkdtemp(prefix="bench-ab-floor-"))
    rows = run(not plain, [window], duration, "1024:3072", log_dir, lambda _m: None)
    return {"round_trips_per_s": rows[0]["msgs_per_s"], "p99_ms": rows[0]["p99_ms"]}


def _run_side(side: str, trees: dict, args, plain: bool, window: int) -> dict:
    if side == "py-floor":
        return _floor(raw_bench.run_raw, plain, window, args.duration)
    if side == "c-floor":
        return _floor(raw_bench.run_relay_c, plain, window, args.duration)
    if side == "tuned":
        return _one(trees["head"], plain, window, args.duration, args.tuned)
    return _one(trees[side], plain, window, args.duration)


def _cell(res: list[dict], key: str) -> float | None:
    values = [r[key] for r in res if key in r]
    return statistics.median(values) if values else None


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--base", required=True, help="git revision to compare with")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--windows", default="1,8")
    p.add_argument("--modes", default="curve,plain")
    p.add_argument("--tuned", default="", help='head with these proxy options, "a=1,b=2"')
    p.add_argument("--floor", action="store_true", help="add the two bare relays")
    p.add_argument("--out", type=Path, default=HERE / "results")
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args()
    base_tree = _worktree(args.base)
    trees = {"base": base_tree / "driver", "head": REPO / "driver"}
    sides = ["base", "head"] + (["tuned"] if args.tuned else [])
    sides += ["py-floor", "c-floor"] if args.floor else []
    head_rev = environment.driver_revision()
    load_before = environment.loadavg()
    runs: dict[tuple[str, str, int], list[dict]] = {}
    try:
        for rnd in range(args.rounds):
            order = sides if rnd % 2 == 0 else sides[::-1]
            for mode in args.modes.split(","):
                for window in (int(w) for w in args.windows.split(",")):
                    for side in order:
                        res = _run_side(side, trees, args, mode == "plain", window)
                        runs.setdefault((side, mode, window), []).append(res)
                        cpu = res.get("cpu_us_per_round_trip", {}).get("proxy")
                        print(
                            f"round {rnd + 1}/{args.rounds} {mode} w{window} {side}: "
                            f"{res['round_trips_per_s']:,.0f} rt/s"
                            + (f", proxy {cpu:.1f} µs CPU/rt" if cpu is not None else ""),
                            flush=True,
                        )
    finally:
        _remove(base_tree)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    names = {"base": f"base ({args.base})", "head": f"head ({head_rev})"}
    names["tuned"] = f"head, proxy {args.tuned}"
    names["py-floor"] = "floor: Python ROUTER swapping ids (raw_zmq.py)"
    names["c-floor"] = "floor: zmq_proxy() in C (relay_c.py)"
    lines = [
        "# Proxy bare round trip: A/B",
        "",
        f"Measured {stamp} on {environment.machine()}; load average before/after "
        f"{load_before} / {environment.loadavg()}.",
        f"{args.rounds} rounds of {args.duration:g} s each, the sides in alternation (the "
        "order flipped every round), medians. Peers: proxy_raw.py of each side; the floors "
        "have their own bare pyzmq peers. Sides: " + "; ".join(names[s] for s in sides) + ".",
        "",
        "| mode | window | side | rt/s | / base | p99 ms | proxy µs CPU/rt | "
        "all processes µs CPU/rt |",
        "|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    table = []
    for mode in args.modes.split(","):
        for window in (int(w) for w in args.windows.split(",")):
            base_rate = _cell(runs[("base", mode, window)], "round_trips_per_s")
            for side in sides:
                res = runs[(side, mode, window)]
                rate = _cell(res, "round_trips_per_s")
                cpus = [r["cpu_us_per_round_trip"] for r in res if "cpu_us_per_round_trip" in r]
                proxy_us = statistics.median(c["proxy"] for c in cpus) if cpus else None
                all_us = statistics.median(sum(c.values()) for c in cpus) if cpus else None
                row = {
                    "mode": mode,
                    "window": window,
                    "side": side,
                    "rt_s": rate,
                    "ratio": rate / base_rate,
                    "p99_ms": _cell(res, "p99_ms"),
                    "proxy_us": proxy_us,
                    "all_us": all_us,
                }
                table.append(row)
                lines.append(
                    f"| {mode} | {window} | {names[side]} | {rate:,.0f} | {row['ratio']:.2f} | "
                    f"{row['p99_ms']:.2f} | "
                    + ("n/a" if proxy_us is None else f"{proxy_us:.1f}")
                    + " | "
                    + ("n/a" if all_us is None else f"{all_us:.0f}")
                    + " |"
                )
    lines += ["", "Command: `" + " ".join(["python", "bench/proxy_ab.py", *sys.argv[1:]]) + "`"]
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_write:
        base = args.out / f"proxy-ab-{stamp}"
        base.with_suffix(".md").write_text(text)
        raw = {f"{s}/{m}/w{w}": v for (s, m, w), v in runs.items()}
        base.with_suffix(".json").write_text(json.dumps({"table": table, "runs": raw}, indent=1))
        print(f"wrote {base.with_suffix('.md')}")


if __name__ == "__main__":
    main()
