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


def test_fault_windows(tmp_path, capsys):
    workdir = str(tmp_path / "lab")
    os.makedirs(workdir)
    result = scenario.run(workdir, scenario.Plan())
    summary = str(tmp_path / "faults.json")
    report.write_json(result, summary)
    with capsys.disabled():
        print("\n" + report.table(result) + "\nJSON summary: " + summary)
    assert result["ok"], "invariants violated:\n" + "\n".join(result["violations"])
