"""Fault injection against real proxies, servers and clients (faultlab).

One lab (two CURVE proxies behind relays, four RPC servers, three
notification listeners, three client processes) and one window per fault:
hung proxy (SIGSTOP 7 s), proxy killed and restarted, proxy black-holed,
burst, server killed with a backlog, slow server behind back-pressure.  The
record files of every process must show: casts exactly once, calls at most
once (exactly once when answered), fanout exactly once per live server,
notifications exactly once per pool, no client hung.  See faultlab/.
"""

from __future__ import annotations

import os

from faultlab import report, scenario
from faultlab.lab import Settings


def test_fault_windows(tmp_path, capsys):
    workdir = str(tmp_path / "lab")
    os.makedirs(workdir)
    result = scenario.run(workdir, scenario.Plan())
    summary = str(tmp_path / "faults.json")
    report.write_json(result, summary)
    with capsys.disabled():
        print("\n" + report.table(result) + "\nJSON summary: " + summary)
    assert result["ok"], "invariants violated:\n" + "\n".join(result["violations"])


def test_proxy_faults_under_eventlet(tmp_path, capsys):
    """The proxy faults again with every server, listener and client monkey-patched
    (eventlet executor), as most services run: the driver's I/O loop then waits on
    eventlet's hub (greenwait.py) while a proxy hangs, goes silent or restarts."""
    workdir = str(tmp_path / "lab")
    os.makedirs(workdir)
    plan = scenario.Plan(faults=scenario.PROXY_FAULTS, settings=Settings(green=True))
    result = scenario.run(workdir, plan)
    report.write_json(result, str(tmp_path / "faults.json"))
    with capsys.disabled():
        print("\n" + report.table(result))
    assert result["ok"], "invariants violated:\n" + "\n".join(result["violations"])
    totals = result["totals"]
    assert totals["casts"].get("sent", 0) > 0 and totals["calls"].get("ok", 0) > 0, totals
