#!/usr/bin/env python3
"""A/B of the driver under oslo.messaging's own simulator: this checkout against --base.

    simulator_ab.py --base REV [--pairs 6] [--workloads call-8] [--duration 15]
                    [--transport zmq-curve] [--base-option K=V] [--head-option K=V]
                    [--out DIR] [--no-write]

One proxy of this checkout serves both sides; the simulator's client and server
import the driver of the side being run: this checkout's, or a temporary git
worktree's of --base. Each side's driver directory is put first on PYTHONPATH, the
proxy's too, and before the first run the tool checks that each side imports its
own package: run from a second worktree, the head side is that worktree, not the
package installed in the virtualenv.  The sides alternate in pairs, the first side flipping every
pair, so that both meet the same drift of the machine.  Per workload the report
gives every run, each side's median calls (or casts) per second and CPU µs per
message (client, server and proxy: cpu_window.py), the ratio of the medians, and
in how many pairs this checkout did better: a change of a few percent shows in a
sign count over many pairs long before it shows in one run.

--base-option / --head-option KEY=VALUE give one side's simulator processes more
[oslo_messaging_zmq] settings (added to a copy of the proxy's client config file):
with --base HEAD, an A/B of a setting on the same code.

Writes results/simulator-ab-<stamp>.{md,json}.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import simulator as sim_mod
from proxy_ab import REPO, _remove, _worktree

SIDES = ("base", "head")
HEAD_DIR = sim_mod.HERE.parent  # this checkout's driver/


def _imported_from(driver_dir: Path | None) -> str:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    if driver_dir is not None:
        env["PYTHONPATH"] = str(driver_dir)
    code = "import oslo_messaging_zmq; print(oslo_messaging_zmq.__file__)"
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def _use(driver_dir: Path | None) -> None:
    """Set the PYTHONPATH the next simulator processes inherit."""
    if driver_dir is None:
        os.environ.pop("PYTHONPATH", None)
    else:
        os.environ["PYTHONPATH"] = str(driver_dir)


def _with_options(ep, options: tuple[str, ...], log_dir: Path, side: str):
    """ep for one side: the proxy's client config file with its options added (the
    simulator reads one --config-file only)."""
    if not options:
        return ep
    args = list(ep.args)
    at = args.index("--config-file") + 1
    conf = log_dir / f"{side}-client.conf"
    conf.write_text(Path(args[at]).read_text().rstrip("\n") + "\n" + "\n".join(options) + "\n")
    args[at] = str(conf)
    return dataclasses.replace(ep, args=args)


def _row(run: dict[str, Any], side: str, pair: int) -> dict[str, Any]:
    cpu = run.get("cpu") or {}
    per_msg = cpu.get("us_per_msg") or {}
    parts = {f"{who}_us": per_msg.get(who) for who in sim_mod.CPU_PROCS}
    window = cpu.get("window_s")
    busy = None
    if window:
        busy = 100 * cpu["machine_busy_s"] / (window * (os.cpu_count() or 1))
    return {
        "side": side,
        "pair": pair,
        "workload": run["workload"],
        "msgs_per_s": run.get("msgs_per_s"),
        "cpu_us": sum(parts.values()) if per_msg and None not in parts.values() else None,
        **parts,
        "busy_pct": busy,
        "loss": run.get("loss"),
        "errors": run.get("errors"),
        "problems": run.get("problems", []),
    }


def summarize(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per workload: medians per side, their ratio, and the pairs head won."""
    out = []
    for workload in dict.fromkeys(r["workload"] for r in rows):
        mine = [r for r in rows if r["workload"] == workload]
        entry: dict[str, Any] = {"workload": workload}
        for key in ("msgs_per_s", "cpu_us"):
            medians = {}
            for side in SIDES:
                values = [r[key] for r in mine if r["side"] == side and r[key] is not None]
                medians[side] = statistics.median(values) if values else None
            entry[key] = medians
            base, head = medians["base"], medians["head"]
            entry[f"{key}_ratio"] = head / base if base and head is not None else None
            better = 0
            pairs = 0
            for pair in sorted({r["pair"] for r in mine}):
                got = {r["side"]: r[key] for r in mine if r["pair"] == pair}
                if got.get("base") is None or got.get("head") is None:
                    continue
                pairs += 1
                # more messages per second, less CPU per message
                won = (
                    got["head"] > got["base"] if key == "msgs_per_s" else got["head"] < got["base"]
                )
                better += won
            entry[f"{key}_head_better"] = f"{better}/{pairs}"
        out.append(entry)
    return out


def _num(value: Any, spec: str = ",.0f") -> str:
    return "n/a" if value is None else format(value, spec)


def markdown(doc: dict[str, Any]) -> str:
    meta = doc["meta"]
    lines = [
        f"# Simulator A/B: this checkout ({meta['head']}) against {meta['base']}",
        "",
        f"Measured {meta['started']} on {meta['machine']}. Command: `{meta['command']}`.",
        f"Transport {meta['transport']}, one proxy of this checkout for both sides, "
        f"-l {meta['duration']} s per run, pairs alternate which side runs first.",
        *[
            f"{side} side's [oslo_messaging_zmq] settings: {', '.join(opts)}."
            for side, opts in meta.get("options", {}).items()
            if opts
        ],
        "",
        "| workload | msg/s base / head | ratio | head faster in | CPU µs per msg base / head "
        "| ratio | head cheaper in |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for s in doc["summary"]:
        rate, cpu = s["msgs_per_s"], s["cpu_us"]
        lines.append(
            f"| {s['workload']} | {_num(rate['base'])} / {_num(rate['head'])} "
            f"| {_num(s['msgs_per_s_ratio'], '.3f')} | {s['msgs_per_s_head_better']} "
            f"| {_num(cpu['base'])} / {_num(cpu['head'])} | {_num(s['cpu_us_ratio'], '.3f')} "
            f"| {s['cpu_us_head_better']} |"
        )
    lines += [
        "",
        "Every run (CPU µs per message: client / server / proxy, and the machine's busy share):",
        "",
        "| pair | side | workload | msg/s | CPU total | client / server / proxy | busy % "
        "| loss | errors | problems |",
        "|---:|---|---|---:|---:|---|---:|---:|---:|---|",
    ]
    for r in doc["rows"]:
        parts = " / ".join(_num(r[k]) for k in ("client_us", "server_us", "broker_us"))
        problems = "; ".join(r["problems"])[:200] or "-"
        lines.append(
            f"| {r['pair']} | {r['side']} | {r['workload']} | {_num(r['msgs_per_s'])} "
            f"| {_num(r['cpu_us'])} | {parts} | {_num(r['busy_pct'], '.1f')} "
            f"| {_num(r['loss'])} | {_num(r['errors'])} | {problems} |"
        )
    return "\n".join(lines) + "\n"


def _git(*args: str) -> str:
    out = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True)
    return out.stdout.strip()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--base", required=True, help="git revision of the base side")
    p.add_argument("--pairs", type=int, default=6)
    p.add_argument("--workloads", default="call-8")
    p.add_argument("--duration", type=int, default=15)
    p.add_argument("--transport", default="zmq-curve", choices=("zmq-curve", "zmq-plain"))
    p.add_argument("--out", type=Path, default=sim_mod.HERE / "results")
    p.add_argument("--no-write", action="store_true")
    for side in SIDES:
        p.add_argument(
            f"--{side}-option",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help=f"an [oslo_messaging_zmq] setting of the {side} side's simulator processes",
        )
    args = p.parse_args(argv)
    args.options = {
        "base": sim_mod.parse_driver_options(args.base_option, p),
        "head": sim_mod.parse_driver_options(args.head_option, p),
    }
    args.workload_list = sim_mod.parse_workloads(args.workloads, p)
    if args.pairs < 1 or args.duration < 6:
        p.error("--pairs must be >= 1 and --duration >= 6 (the CPU window needs it)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = datetime.datetime.now(datetime.UTC)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    log = sim_mod.log
    if "PYTHONPATH" in os.environ:
        log("PYTHONPATH is set: unset it, the head side must import this checkout")
        return 2
    tree = _worktree(args.base)
    base_dir = tree / "driver"
    try:
        head_file, base_file = _imported_from(HEAD_DIR), _imported_from(base_dir)
        if not base_file.startswith(f"{base_dir}/") or not head_file.startswith(f"{HEAD_DIR}/"):
            log(f"the sides do not import their own driver: head {head_file}, base {base_file}")
            return 2
        log(f"head imports {head_file}; base imports {base_file}")
        if not list((HEAD_DIR / "oslo_messaging_zmq").glob("_core*.so")):
            log("this checkout has no built native core: its proxy routes in Python")
        log_dir = Path(tempfile.mkdtemp(prefix=f"bench-logs-{stamp}-simulator-ab-"))
        st = sim_mod.Settings(duration=args.duration, log_dir=log_dir)
        sim = sim_mod.obtain(sim_mod.metadata.version("oslo.messaging"), sim_mod.CACHE, log, None)
        rows: list[dict[str, Any]] = []
        with contextlib.ExitStack() as stack:
            _use(HEAD_DIR)
            ep = sim_mod.bring_up(args.transport, stack, log_dir)
            sides = {side: _with_options(ep, args.options[side], log_dir, side) for side in SIDES}
            for pair in range(1, args.pairs + 1):
                order = SIDES if pair % 2 else tuple(reversed(SIDES))
                for wl in args.workload_list:
                    for side in order:
                        _use(base_dir if side == "base" else HEAD_DIR)
                        run = sim_mod.run_one(sim, sides[side], wl, pair, st, tag=f"{side}{pair}")
                        rows.append(_row(run, side, pair))
                        log(f"pair {pair}/{args.pairs} {side} {wl.name}: {sim_mod._fmt_row(run)}")
            _use(None)
    finally:
        _use(None)
        _remove(tree)
    doc = {
        "meta": {
            "started": started.isoformat(timespec="seconds"),
            "machine": sim_mod.environment.machine(),
            "head": _git("describe", "--always", "--dirty"),
            "base": _git("rev-parse", "--short", args.base),
            "transport": args.transport,
            "duration": args.duration,
            "options": {side: list(args.options[side]) for side in SIDES},
            "command": " ".join(["simulator_ab.py", *(sys.argv[1:] if argv is None else argv)]),
        },
        "summary": summarize(rows),
        "rows": rows,
    }
    text = markdown(doc)
    print()
    print(text)
    if not args.no_write:
        args.out.mkdir(parents=True, exist_ok=True)
        md = args.out / f"simulator-ab-{stamp}.md"
        md.write_text(text)
        md.with_suffix(".json").write_text(json.dumps(doc, indent=1) + "\n")
        log(f"wrote {md} and its .json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
