# Copyright: contributors to the zeromq.openstack collection
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Filter oslo_messaging_zmq_acl (plugins/filter/oslo_messaging_zmq_acl.py): the permissions
each service key gets, checked with the proxy's own pattern matcher (driver acl.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError

TOP = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location(
    "oslo_messaging_zmq_acl", TOP / "plugins" / "filter" / "oslo_messaging_zmq_acl.py"
)
f = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(f)
acl = pytest.importorskip("oslo_messaging_zmq.acl")

R, N = "r", "n"
HOSTS = ["cmp1", "cmp1.example.org"]


def entry(name, units, exchange="", rpc=True, notifications=True):
    return {
        "name": name,
        "units": units,
        "ping_exchange": exchange,
        "rpc": rpc,
        "notifications": notifications,
    }


def perms(svc, hosts=HOSTS):
    rights = f.oslo_messaging_zmq_acl(svc, hosts)
    return acl.from_metadata(rights)


def test_nova_compute_listens_only_on_its_own_compute_server():
    p = perms(entry("nova", ["nova-compute.service"], "nova"))
    assert p.may_listen((R, "nova", "compute", "cmp1"))
    assert p.may_listen((R, "nova", "compute", "cmp1.example.org"))
    assert not p.may_listen((R, "nova", "compute", "cmp2"))
    assert not p.may_listen((R, "nova", "conductor", "cmp1"))
    assert not p.may_listen((R, "nova", "scheduler", "cmp1"))
    # it calls conductor and other computes, fans out to the scheduler, notifies
    assert p.may_send(R, "nova", "conductor", "", False)
    assert p.may_send(R, "nova", "compute", "cmp2", False)
    assert p.may_send(R, "nova", "scheduler", "", True)
    assert p.may_send(N, "nova", "versioned_notifications.info", "", False)
    assert not p.may_send(R, "neutron", "q-plugin", "", False)


def test_nova_controller_units_listen_on_their_topics_not_on_compute():
    units = ["nova-api.service", "nova-conductor.service", "nova-scheduler.service"]
    p = perms(entry("nova", units, "nova"), ["ctl1"])
    assert p.may_listen((R, "nova", "conductor", "ctl1"))
    assert p.may_listen((R, "nova", "scheduler", "ctl1"))
    assert not p.may_listen((R, "nova", "compute", "ctl1"))


def test_neutron_agent_and_server():
    agent = perms(entry("neutron", ["neutron-openvswitch-agent.service"], "neutron"))
    assert agent.may_listen((R, "neutron", "q-agent-notifier-port-update", "cmp1"))
    assert agent.may_listen((R, "neutron", "q-agent-notifier-port-update.cmp1", "cmp1"))
    assert agent.may_listen((R, "neutron", "neutron-vo-Port-1.1", "cmp1"))
    assert not agent.may_listen((R, "neutron", "q-plugin", "cmp1"))
    assert not agent.may_listen((R, "neutron", "q-agent-notifier-port-update", "cmp2"))
    assert agent.may_send(R, "neutron", "q-plugin", "", False)
    units = ["neutron-dhcp-agent", "neutron-l3-agent", "neutron-metadata-agent"]
    network = perms(entry("neutron", units, "neutron"), ["net1"])
    assert network.may_listen((R, "neutron", "dhcp_agent", "net1"))
    assert network.may_listen((R, "neutron", "l3_agent", "net1"))
    server = perms(entry("neutron", ["neutron-api", "neutron-rpc-server"], "neutron"), ["c"])
    assert server.may_listen((R, "neutron", "q-plugin", "c"))
    assert server.may_listen((R, "neutron", "q-reports-plugin", "c"))


def test_cinder_volume_with_its_backends_in_the_default_exchange():
    p = perms(entry("cinder", ["cinder-volume.service", "cinder-backup.service"], "openstack"))
    assert p.may_listen((R, "openstack", "cinder-volume", "cmp1@lvm"))
    # the per-backend topic cinder's volume rpcapi casts to, served with server=<host>
    assert p.may_listen((R, "openstack", "cinder-volume.cmp1@lvm", "cmp1"))
    assert not p.may_listen((R, "openstack", "cinder-volume.cmp2@lvm", "cmp2"))
    assert not p.may_listen((R, "openstack", "cinder-volume.cmp2@lvm", "cmp1"))
    assert p.may_listen((R, "openstack", "cinder-backup", "cmp1"))
    assert not p.may_listen((R, "openstack", "cinder-volume", "cmp2@lvm"))
    assert not p.may_listen((R, "openstack", "cinder-scheduler", "cmp1"))
    assert p.may_send(R, "openstack", "cinder-scheduler", "", True)  # capabilities fanout


def test_unknown_units_and_services_get_their_whole_exchange():
    p = perms(entry("heat", ["heat-engine", "heat-something-new"], "heat"), ["c"])
    assert p.may_listen((R, "heat", "anything", "x"))
    assert not p.may_listen((R, "nova", "compute", "c"))
    other = perms(entry("testsvc", ["testsvc.service"]), ["c"])
    assert other.may_listen((R, "openstack", "testsvc", "c"))
    assert other.may_listen((N, "openstack", "testsvc_notifications.info", ""))
    assert not other.may_listen((N, "nova", "notifications.info", ""))
    no_units = perms(entry("nova", [], "nova"), ["c"])
    assert no_units.may_listen((R, "nova", "conductor", "c"))


def test_notification_only_services_listen_nowhere():
    p = perms(entry("glance", ["glance-api.service"], rpc=False), ["c"])
    assert not p.may_listen((R, "openstack", "x", ""))
    assert not p.may_listen((N, "glance", "notifications.info", ""))
    assert p.may_send(N, "glance", "notifications.info", "", False)
    assert not p.may_send(R, "openstack", "x", "", False)


def test_ceilometer_consumes_every_services_notifications_and_nothing_else():
    svc = entry("ceilometer", ["ceilometer-agent-notification.service"], "ceilometer", rpc=False)
    p = perms(svc, ["c"])
    assert p.may_listen((N, "keystone", "notifications.info", ""))
    assert p.may_listen((N, "nova", "notifications.error", ""))
    assert not p.may_listen((R, "nova", "conductor", ""))


def test_enforcement_off_and_bad_input():
    assert f.oslo_messaging_zmq_acl(entry("nova", ["nova-compute"]), HOSTS, False) == {}
    with pytest.raises(AnsibleFilterError, match="service entry"):
        f.oslo_messaging_zmq_acl("nova", HOSTS)
    with pytest.raises(AnsibleFilterError, match="no host name"):
        f.oslo_messaging_zmq_acl(entry("nova", ["nova-compute"]), ["", None, "a b"])
    # duplicates and unusable names are dropped; one name is enough
    rights = f.oslo_messaging_zmq_acl(entry("nova", ["nova-compute"], "nova"), ["a", "a", "x:y"])
    assert rights["listen"] == "nova:compute/a"


def test_every_generated_pattern_parses():
    for unit in [*f.UNIT_LISTEN, *f.QUIET_UNITS, "unknown"]:
        rights = f.oslo_messaging_zmq_acl(entry("svc", [unit], "ex"), HOSTS)
        for value in rights.values():
            acl.parse_patterns(value)


def test_filter_is_registered():
    assert f.FilterModule().filters()["oslo_messaging_zmq_acl"] is f.oslo_messaging_zmq_acl
