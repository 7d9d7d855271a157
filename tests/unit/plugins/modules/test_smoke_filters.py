# Copyright: contributors to the zeromq.openstack collection
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""The smoke role's run names and per-step counter arithmetic (filters and module_utils).

Against real proxies they run in the Molecule aio scenario's smoke play.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.zeromq.openstack.plugins.filter import smoke
from ansible_collections.zeromq.openstack.plugins.module_utils import smoke_names

NOW = datetime(2026, 12, 2, 12, 0, 0, tzinfo=UTC)


def test_run_name_embeds_its_start_and_parses_back():
    name = smoke.smoke_run_name("zmqos-smoke", NOW.timestamp(), "a1b2c3")
    assert name == "zmqos-smoke-20261202T120000Z-a1b2c3"
    assert smoke_names.started("zmqos-smoke", name + "-server") == NOW


@pytest.mark.parametrize(
    "name",
    ["zmqos-smoke-tiny", "other-20261202T120000Z-a1b2c3-server", "zmqos-smoke-2026-x", "", None],
)
def test_names_of_no_smoke_run_are_never_leftovers(name):
    assert smoke_names.started("zmqos-smoke", name) is None
    assert not smoke_names.is_leftover("zmqos-smoke", name, NOW, 0)


def test_only_runs_older_than_the_limit_are_leftovers():
    old = smoke_names.run_name("p", NOW - timedelta(hours=2), "x1") + "-volume"
    recent = smoke_names.run_name("p", NOW - timedelta(minutes=5), "x2") + "-volume"
    assert smoke_names.is_leftover("p", old, NOW, 3600)
    assert not smoke_names.is_leftover("p", recent, NOW, 3600)


def _answer(host: str, uptime: float, **targets: int) -> dict:
    return {
        "item": [host, "http://127.0.0.1:9502/stats"],
        "status": 200,
        "json": {
            "uptime_seconds": uptime,
            "targets": {
                label.replace("__", "/"): {"routed": n, "held": 0, "dropped": 0}
                for label, n in targets.items()
            },
        },
    }


def _silent(host: str) -> dict:
    return {"item": [host, "http://127.0.0.1:9502/stats"], "status": -1, "msg": "refused"}


def test_readings_key_each_proxy_and_mark_the_silent_ones():
    readings = smoke.smoke_readings([_answer("p1", 10, rpc__nova__compute=3), _silent("p2")])
    assert readings["p1 http://127.0.0.1:9502/stats"]["targets"]["rpc/nova/compute"]["routed"] == 3
    assert readings["p2 http://127.0.0.1:9502/stats"] is None
    assert smoke.smoke_unreachable(readings) == ["p2 http://127.0.0.1:9502/stats"]


def test_readings_reject_an_answer_without_targets():
    with pytest.raises(AnsibleFilterError, match="p1 .*targets"):
        smoke.smoke_readings([{"item": ["p1", "u"], "status": 200, "json": {"counters": {}}}])


def test_totals_sum_over_the_proxies_that_answered():
    readings = smoke.smoke_readings(
        [
            _answer("p1", 5, rpc__nova__compute=3),
            _answer("p2", 5, rpc__nova__compute=4),
            _silent("p3"),
        ]
    )
    assert smoke.smoke_totals(readings) == {
        "rpc/nova/compute": {"routed": 7, "held": 0, "dropped": 0}
    }


def test_delta_keeps_only_targets_that_grew():
    before = smoke.smoke_readings([_answer("p1", 10, a=1, b=5)])
    now = smoke.smoke_readings([_answer("p1", 20, a=1, b=7, c=0)])
    now["p1 http://127.0.0.1:9502/stats"]["targets"]["c"]["held"] = 2
    assert smoke.smoke_delta(now, before) == {
        "b": {"routed": 2, "held": 0, "dropped": 0},
        "c": {"routed": 0, "held": 2, "dropped": 0},
    }


def test_delta_survives_a_proxy_killed_and_restarted():
    """A proxy that stops answering adds nothing; restarted, it counts from zero again."""
    first = smoke.smoke_readings([_answer("p1", 100, a=50), _answer("p2", 100, a=40)])
    killed = smoke.smoke_readings([_answer("p1", 110, a=58), _silent("p2")])
    assert smoke.smoke_delta(killed, first) == {"a": {"routed": 8, "held": 0, "dropped": 0}}
    known = smoke.smoke_remember(killed, first)
    assert known["p2 http://127.0.0.1:9502/stats"]["uptime_seconds"] == 100
    back = smoke.smoke_readings([_answer("p1", 120, a=60), _answer("p2", 3, a=4)])
    assert smoke.smoke_delta(back, known) == {"a": {"routed": 6, "held": 0, "dropped": 0}}


def test_delta_of_a_proxy_that_was_only_silent_counts_from_its_last_answer():
    """A hung proxy (SIGSTOP) keeps its counters: its growth is what it added since."""
    first = smoke.smoke_readings([_answer("p1", 100, a=50)])
    hung = smoke.smoke_readings([_silent("p1")])
    known = smoke.smoke_remember(hung, first)
    assert smoke.smoke_delta(hung, first) == {}
    thawed = smoke.smoke_readings([_answer("p1", 130, a=53)])
    assert smoke.smoke_delta(thawed, known) == {"a": {"routed": 3, "held": 0, "dropped": 0}}


def test_unmet_needs_routed_messages_not_held_ones():
    delta = {
        "rpc/nova/compute": {"routed": 2, "held": 0, "dropped": 0},
        "notify/nova/notifications.info": {"routed": 0, "held": 3, "dropped": 0},
    }
    required = ["rpc/nova/compute", "notify/nova/notifications.*", "rpc/nova/conductor"]
    assert smoke.smoke_unmet(delta, required) == [
        "notify/nova/notifications.*",
        "rpc/nova/conductor",
    ]
    assert smoke.smoke_unmet(delta, []) == []


def report(outcome="OK", steps=None):
    return {
        "cloud": "lab",
        "run": "r",
        "seconds": 10.0,
        "proxy_group": "zmq_proxies",
        "outcome": outcome,
        "failed": [] if outcome == "OK" else ["server_boot"],
        "not_run": [],
        "steps": steps or [],
    }


def test_report_lines_show_required_targets_and_verdict():
    steps = [
        {
            "name": "server_boot",
            "project": "nova",
            "outcome": "OK",
            "seconds": 3.2,
            "targets": {
                "rpc/nova/compute": {"routed": 4, "held": 0, "dropped": 0},
                "notify/nova/notifications.info": {"routed": 2, "held": 0, "dropped": 0},
            },
            "required": ["rpc/nova/compute"],
            "error": "",
        },
        {
            "name": "network",
            "project": "neutron",
            "outcome": "SKIPPED",
            "seconds": 0.0,
            "targets": {},
            "required": [],
            "error": "no network service in the catalog",
        },
    ]
    lines = smoke.smoke_report_lines(report(steps=steps), True)
    assert lines[2].split() == [
        "server_boot",
        "nova",
        "OK",
        "3.2s",
        "4",
        "2",
        "rpc/nova/compute",
        "+4",
    ]
    assert "no network service" in lines[3]
    assert lines[-1] == "ALL OK (skipped: network)"


def test_report_lines_name_failures():
    lines = smoke.smoke_report_lines(report("FAILED"), False)
    assert lines[-1] == "FAILED: server_boot"
    assert "proxies not read" in lines[0]


def test_report_lines_say_which_proxy_took_its_counts_away():
    base = {"project": "cinder", "outcome": "OK", "seconds": 5.0, "targets": {}, "error": ""}
    lost = dict(
        base,
        name="volume_from_image",
        required=["rpc/openstack/cinder-volume.*"],
        unverified=["rpc/openstack/cinder-volume.*"],
        proxies_lost=["p1 u"],
        proxies_down=["p1 u"],
    )
    later = dict(base, name="volume_attach", required=[], proxies_down=["p1 u"])
    lines = smoke.smoke_report_lines(report(steps=[lost, later]), True)
    assert "not verifiable: p1 u went away during the step" in lines[2]
    assert lines[3].endswith("[no answer from p1 u]")
