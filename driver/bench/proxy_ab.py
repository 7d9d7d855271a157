#!/usr/bin/env python3
"""The proxy's bare round trip, this checkout against another git revision, in
alternation on this machine (one proxy_profile.py run each, in turns, the order
flipped every round), so that background load does not favour either side.

    python bench/proxy_ab.py --base f3eebf8 --rounds 5 --duration 10

Each side runs with its own driver code (a temporary git worktree of --base on
PYTHONPATH for the base side): proxy and bare peers alike, as the wire format
may differ between revisions. Writes results/proxy-ab-<stamp>.{md,json}."""

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


def _one(driver_dir: Path, plain: bool, window: int, duration: float) -> dict:
    env = dict(os.environ, PYTHONPATH=str(driver_dir))
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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--base", required=True, help="git revision to compare with")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--windows", default="1,8")
    p.add_argument("--modes", default="curve,plain")
    p.add_argument("--out", type=Path, default=HERE / "results")
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args()
    base_tree = _worktree(args.base)
    sides = {"base": base_tree / "driver", "head": REPO / "driver"}
    head_rev = environment.driver_revision()
    load_before = environment.loadavg()
    runs: dict[tuple[str, str, int], list[dict]] = {}
    try:
        for rnd in range(args.rounds):
            order = ["base", "head"] if rnd % 2 == 0 else ["head", "base"]
            for mode in args.modes.split(","):
                for window in (int(w) for w in args.windows.split(",")):
                    for side in order:
                        res = _one(sides[side], mode == "plain", window, args.duration)
                        runs.setdefault((side, mode, window), []).append(res)
                        print(
                            f"round {rnd + 1}/{args.rounds} {mode} w{window} {side}: "
                            f"{res['round_trips_per_s']:,.0f} rt/s, proxy "
                            f"{res['cpu_us_per_round_trip']['proxy']:.1f} µs CPU/rt",
                            flush=True,
                        )
    finally:
        _remove(base_tree)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    lines = [
        "# Proxy bare round trip: A/B",
        "",
        f"Measured {stamp} on {environment.machine()}; load average before/after "
        f"{load_before} / {environment.loadavg()}.",
        f"base = git {args.base}, head = driver git {head_rev}; {args.rounds} rounds of "
        f"{args.duration:g} s each, alternating, medians. Peers: proxy_raw.py of each side.",
        "",
        "| mode | window | base rt/s | head rt/s | ratio | base proxy µs CPU/rt | "
        "head proxy µs CPU/rt | all processes µs CPU/rt base / head |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    table = []
    for mode in args.modes.split(","):
        for window in (int(w) for w in args.windows.split(",")):
            row = {"mode": mode, "window": window}
            for side in ("base", "head"):
                res = runs[(side, mode, window)]
                row[f"{side}_rt_s"] = statistics.median(r["round_trips_per_s"] for r in res)
                row[f"{side}_proxy_us"] = statistics.median(
                    r["cpu_us_per_round_trip"]["proxy"] for r in res
                )
                row[f"{side}_all_us"] = statistics.median(
                    sum(r["cpu_us_per_round_trip"].values()) for r in res
                )
            table.append(row)
            lines.append(
                f"| {mode} | {window} | {row['base_rt_s']:,.0f} | {row['head_rt_s']:,.0f} | "
                f"{row['head_rt_s'] / row['base_rt_s']:.2f} | {row['base_proxy_us']:.1f} | "
                f"{row['head_proxy_us']:.1f} | "
                f"{row['base_all_us']:.0f} / {row['head_all_us']:.0f} |"
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
