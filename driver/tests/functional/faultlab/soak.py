"""Soak: the whole fault sequence repeated in one lab, summary to a file.

    python -m faultlab.soak --rounds N [--minutes M] --out SUMMARY.md [--workdir DIR]
                            [--faults F,F] [--option NAME=VALUE ...] [--green]

Runs up to N rounds of every fault (no new round once M minutes are used),
with the same processes throughout, so what a fault leaves behind (leaked
in-flight slots, stale registrations) meets the next faults.  Writes a
markdown summary (per fault over all rounds, then every window) to the --out
path and the JSON summary next to it (same name, .json).  Exit 1 if any
invariant failed.  --option sets a driver option of every lab process in the
transport URL (e.g. confirm_casts=true).  --green runs the servers, listeners and
clients under eventlet, the servers with the eventlet executor (faultlab.green).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

from faultlab import report, scenario
from faultlab.lab import Settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, required=True)
    parser.add_argument("--minutes", type=float, default=None)
    parser.add_argument("--out", required=True, help="markdown summary; JSON goes next to it")
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--faults", default=",".join(scenario.FAULTS))
    parser.add_argument("--option", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--green", action="store_true", help="services under eventlet")
    args = parser.parse_args(argv)
    settings = Settings(query=dict(item.split("=", 1) for item in args.option), green=args.green)
    workdir = args.workdir or tempfile.mkdtemp(prefix="faultlab-soak-")
    os.makedirs(workdir, exist_ok=True)
    plan = scenario.Plan(
        rounds=args.rounds,
        minutes=args.minutes,
        faults=tuple(f for f in args.faults.split(",") if f),
        settings=settings,
    )
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    result = scenario.run(workdir, plan)
    rounds = max((w["round"] for w in result["windows"]), default=0)
    text = [
        f"# faultlab soak, {started}",
        "",
        f"{rounds} rounds of {', '.join(plan.faults)}; driver options {settings.query or '-'}; "
        f"services {'under eventlet (eventlet executor)' if settings.green else 'threading'}; "
        f"wall {result['wall_s']} s; "
        f"verdict **{'ok' if result['ok'] else 'FAIL'}**",
        "",
        "## Per fault, all rounds",
        "",
        report.by_fault_markdown(result),
        "## Every window",
        "",
        report.markdown(result),
    ]
    with open(args.out, "w") as handle:
        handle.write("\n".join(text))
    report.write_json(result, os.path.splitext(args.out)[0] + ".json")
    print(report.table(result))
    print(f"summary: {args.out}")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
