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
    """The step the kill fell into cannot count what the dead proxy routed (unverified); every
    later step is judged on the proxy left, which must have carried its required targets."""
    down = [p for p in report["proxies_down"] if p.startswith(KILLED + " ")]
    assert down, report["proxies_down"]
    # The project steps (the cleanup row reads no counters).
    steps = [s for s in report["steps"] if s["outcome"] != "SKIPPED" and "proxies_down" in s]
    lost_at = [i for i, s in enumerate(steps) if s.get("proxies_lost")]
    assert len(lost_at) == 1, [(s["name"], s.get("proxies_lost")) for s in steps]
    assert steps[lost_at[0]]["proxies_lost"] == down
    after = steps[lost_at[0] + 1 :]
    assert after, "the kill came too late: no step ran on the proxy left"
    for step in after:
        assert step["proxies_down"] == down, step
        assert step["unverified"] == [] and step["unmet"] == [], step
    assert any(s["required"] for s in after), [s["name"] for s in after]


def test_smoke_all_ok_across_the_kill(report):
    """Every step worked and routed its required targets (those it could count)."""
    steps = assert_all_ok(report)
    for name, step in steps.items():
        assert step["unmet"] == [], (name, step)
