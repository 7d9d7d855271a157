"""Stage failover: the proxy on debian-ctl was killed and kept down during a smoke run."""

from __future__ import annotations

from datetime import datetime

import pytest
from conftest import CONTROLLER, assert_all_ok, host, smoke_report

KILLED = CONTROLLER


@pytest.fixture(scope="module")
def report() -> dict:
    return smoke_report("failover")


def test_the_proxy_was_killed_during_the_smoke_run(report):
    killed_at = float(host(KILLED).check_output("cat /var/tmp/zmqos-proxy-killed"))
    finished = datetime.fromisoformat(report["finished"]).timestamp()
    started = finished - float(report["seconds"])
    assert started < killed_at < finished, (started, killed_at, finished)
    assert not host(KILLED).service("zmq-proxy@main").is_running


def test_the_report_saw_the_proxy_go(report):
    down = [p for p in report["proxies_down"] if p.startswith(KILLED + " ")]
    assert down, report["proxies_down"]
    last = report["steps"][-1]
    assert any(p.startswith(KILLED + " ") for p in last["proxies_down"]), last


def test_smoke_all_ok_across_the_kill(report):
    """Every step worked and routed its required targets, through the proxy left."""
    steps = assert_all_ok(report)
    for name, step in steps.items():
        assert step["unmet"] == [], (name, step)
