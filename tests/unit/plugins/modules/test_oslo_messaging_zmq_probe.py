# Copyright: contributors to the zeromq.openstack collection
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""The post-change probe's choice of services (filter plugin oslo_messaging_zmq_probe)."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.zeromq.openstack.plugins.filter import oslo_messaging_zmq_probe as probe

NOVA = {"name": "nova", "rpc": True, "ping_topic": "conductor", "units": ["nova-conductor"]}
CINDER = {"name": "cinder", "rpc": True, "ping_topic": "cinder-scheduler", "units": ["c-sch"]}
GLANCE = {"name": "glance", "rpc": False, "ping_topic": "", "units": ["glance-api"]}
QUIET = {"name": "heat", "rpc": True, "ping_topic": "", "units": ["heat-engine"]}
ACTIVE = [NOVA, CINDER, GLANCE, QUIET]


def names(entries):
    return [entry["name"] for entry in entries]


def test_restarted_services_are_all_probed():
    assert names(probe.oslo_messaging_zmq_probes(ACTIVE, ["nova-conductor"], True)) == [
        "nova",
        "cinder",
    ]


def test_without_restarts_a_changed_service_is_left_out_and_named():
    pending = ["nova-conductor", "glance-api"]
    assert names(probe.oslo_messaging_zmq_probes(ACTIVE, pending, False)) == ["cinder"]
    assert probe.oslo_messaging_zmq_awaiting_restart(ACTIVE, pending) == ["nova", "glance"]


def test_nothing_pending_means_nothing_waits():
    assert names(probe.oslo_messaging_zmq_probes(ACTIVE, [], False)) == ["nova", "cinder"]
    assert probe.oslo_messaging_zmq_awaiting_restart(ACTIVE, []) == []


def test_bad_input_is_named():
    with pytest.raises(AnsibleFilterError, match="oslo_messaging_zmq_probes"):
        probe.oslo_messaging_zmq_probes({"nova": NOVA}, [], True)
