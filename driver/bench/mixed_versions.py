#!/usr/bin/env python3
"""Batched "taken" ACKs across versions: an upgrade in progress, with real processes.

A listener sends the "taken" of one I/O-loop turn in one ACK with ids only to
senders that say they read them (``idsok``, copied by the proxy). This runs
that guard against the code of another revision (--old, by default the one
before batched ACKs), one role at a time, from a temporary git worktree on
PYTHONPATH (as proxy_ab.py and simulator_ab.py do):

    sender   proxies  servers
    new      new      new      (batching expected)
    old      new      new      an old nova-api casting through upgraded proxies
    new      old      new      services upgraded before the proxies
    new      new      old      an old nova-compute behind upgraded proxies

Each scenario: two CURVE proxies, two RPC servers on one topic (eventlet
executor, each appending "SERVER VALUE" to one O_APPEND record per execution:
peer_server.py --green --record), and a green burst of CALLERS x EACH casts to
the topic (mixed_caster.py), run on past ack_timeout. Judged by message value
at the receivers and by the proxies' counters: every cast executed exactly
once, none routed twice (a "taken" the sender did not read makes it send the
cast again after ack_timeout, and another server may run it), and ACKs fewer
than casts where batching is expected, one per cast where it is not.

Writes results/mixed-versions-<stamp>.{md,json}. Exit status 1 when a scenario
lost or duplicated a cast or sent one again.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import environment
from proxy_ab import REPO, _remove, _worktree

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "functional"))

import harness  # noqa: E402

NEW_DRIVER = HERE.parent
SCENARIOS = (  # sender, proxies, servers
    ("new", "new", "new"),
    ("old", "new", "new"),
    ("new", "old", "new"),
    ("new", "new", "old"),
)
SERVERS = ("m1", "m2")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


@contextlib.contextmanager
def _pythonpath(driver_dir: Path):
    """Processes started inside import the driver from driver_dir."""
    before = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = str(driver_dir)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = before


def _counters(proxies: list[harness.ProxyProcess]) -> dict[str, int]:
    totals = collections.Counter()
    for proxy in proxies:
        counters = proxy.metrics()["counters"]
        for name in ("routed", "acks"):
            totals[name] += counters.get(name, 0)
    return dict(totals)


def run_scenario(
    roles: tuple[str, str, str], trees: dict[str, Path], callers: int, each: int, work: Path
) -> dict[str, Any]:
    sender, proxy_side, server_side = roles
    keys = harness.make_keys(str(work / "keys"))
    topic = "mixed-" + uuid.uuid4().hex[:12]
    record = work / f"{topic}.record"
    procs: list[subprocess.Popen] = []
    proxies: list[harness.ProxyProcess] = []
    try:
        with _pythonpath(trees[proxy_side]):  # core=native: the run fails if it is not built
            proxies = [
                harness.ProxyProcess(keys, str(work), core="native").start() for _ in range(2)
            ]
        url = harness.transport_url(proxies, keys)
        with _pythonpath(trees[server_side]):
            for name in SERVERS:
                procs.append(
                    harness.start_peer(url, topic, name, "--green", "--record", str(record))
                )
        if not harness.wait_for(lambda: harness.registered(proxies, topic, len(SERVERS)), 15):
            return {"roles": roles, "error": "servers not registered on both proxies"}
        before = _counters(proxies)
        with _pythonpath(trees[sender]):
            caster = subprocess.Popen(
                [
                    sys.executable,
                    str(HERE / "mixed_caster.py"),
                    url,
                    topic,
                    str(callers),
                    str(each),
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        procs.append(caster)
        lines = [caster.stdout.readline().strip() for _ in range(2)]
        if lines != ["sent", "settled"]:
            return {"roles": roles, "error": f"caster: {lines} {caster.stderr.read()[-2000:]}"}
        total = callers * each
        harness.wait_for(lambda: len(harness.read_record(str(record))) >= total, 10)
        after = _counters(proxies)
        runs = collections.Counter(
            int(value) for _server, value in harness.read_record(str(record))
        )
        by_server = collections.Counter(server for server, _v in harness.read_record(str(record)))
        routed, acks = after["routed"] - before["routed"], after["acks"] - before["acks"]
        batching = roles == ("new", "new", "new")
        result = {
            "roles": roles,
            "casts": total,
            "executed": sum(runs.values()),
            "lost": sum(1 for v in range(total) if runs[v] == 0),
            "duplicated": sum(n - 1 for n in runs.values() if n > 1),
            "per_server": dict(by_server),
            "routed": routed,
            "acks": acks,
            "batching_expected": batching,
        }
        result["ok"] = (
            result["lost"] == 0
            and result["duplicated"] == 0
            and routed == total
            and (acks < total if batching else acks >= total)
        )
        return result
    finally:
        for proc in procs:
            if proc.stdin:
                with contextlib.suppress(OSError):
                    proc.stdin.close()
            proc.kill()
            proc.wait()
        for proxy in proxies:
            proxy.stop()


def markdown(doc: dict[str, Any]) -> str:
    meta = doc["meta"]
    lines = [
        '# Batched "taken" ACKs across versions (an upgrade in progress)',
        "",
        f"Measured {meta['started']} on {meta['machine']}.",
        f"Versions: {meta['versions']}.",
        f"new: this checkout (`{meta['new']}`); old: `{meta['old']}` ({meta['old_rev']}).",
        f"Command: `{meta['command']}`",
        "",
        f"Each row: two CURVE proxies, two RPC servers on one topic (eventlet executor), "
        f"{meta['callers']} green callers casting {meta['each']} values each, run on past "
        "ack_timeout. executed / lost / duplicated: by value, from the servers' append-only "
        "records. routed and acks: the proxies' counters over the burst (routed = casts: "
        "none sent again).",
        "",
        "| sender | proxies | servers | casts | executed | lost | duplicated | per server "
        "| routed | ACKs | batching expected | verdict |",
        "|---|---|---|---:|---:|---:|---:|---|---:|---:|---|---|",
    ]
    for r in doc["scenarios"]:
        s, p, v = r["roles"]
        if "error" in r:
            lines.append(f"| {s} | {p} | {v} | | | | | | | | | **error**: {r['error']} |")
            continue
        per = ", ".join(f"{k} {n}" for k, n in sorted(r["per_server"].items()))
        lines.append(
            f"| {s} | {p} | {v} | {r['casts']} | {r['executed']} | {r['lost']} "
            f"| {r['duplicated']} | {per} | {r['routed']} | {r['acks']} "
            f"| {'yes' if r['batching_expected'] else 'no'} | {'ok' if r['ok'] else '**FAILED**'} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--old", default="653e6bc~1", help="the other revision (653e6bc~1: before batching)"
    )
    p.add_argument("--callers", type=int, default=8)
    p.add_argument("--each", type=int, default=100)
    p.add_argument("--out", type=Path, default=HERE / "results")
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args(argv)
    started = datetime.datetime.now(datetime.UTC)
    old_rev = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", args.old],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    tree = _worktree(args.old)
    scenarios = []
    try:
        trees = {"new": NEW_DRIVER, "old": tree / "driver"}
        # the old proxies route as an operator's would: with their own native core
        log(f"building the native core of {old_rev} in its worktree")
        subprocess.run(
            [sys.executable, "setup.py", "-q", "build_ext", "--inplace"],
            cwd=trees["old"],
            check=True,
            capture_output=True,
        )
        with tempfile.TemporaryDirectory(prefix="mixed-versions-") as tmp:
            for n, roles in enumerate(SCENARIOS):
                work = Path(tmp) / f"s{n}"
                work.mkdir()
                log(f"sender {roles[0]}, proxies {roles[1]}, servers {roles[2]} ...")
                result = run_scenario(roles, trees, args.callers, args.each, work)
                log(f"  {result}")
                scenarios.append(result)
    finally:
        _remove(tree)
    doc = {
        "meta": {
            **environment.run_meta(started.isoformat(timespec="seconds"), environment.loadavg()),
            "new": str(NEW_DRIVER),
            "old": args.old,
            "old_rev": old_rev,
            "callers": args.callers,
            "each": args.each,
            "command": " ".join(["mixed_versions.py"] + (sys.argv[1:] if argv is None else argv)),
        },
        "scenarios": scenarios,
    }
    text = markdown(doc)
    if not args.no_write:
        stamp = started.strftime("%Y%m%dT%H%M%SZ")
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / f"mixed-versions-{stamp}.json").write_text(json.dumps(doc, indent=2) + "\n")
        (args.out / f"mixed-versions-{stamp}.md").write_text(text)
        log(f"wrote {args.out / f'mixed-versions-{stamp}.md'}")
    print()
    print(text)
    return 0 if all(r.get("ok") for r in scenarios) else 1


if __name__ == "__main__":
    sys.exit(main())
