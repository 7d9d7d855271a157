# Copyright: contributors to the zeromq.openstack collection
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Pruning of the proxies' allowed client keys (filter plugin zmq_client_keys)."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.zeromq.openstack.plugins.filter import zmq_client_keys as keys

DIR = "/etc/zmq-proxy/allowed_clients"
HOSTS = ["ctl", "cmp", "cmp-2", "zmq-proxy1"]


def found(*names):
    return {"files": [{"path": f"{DIR}/{n}"} for n in names]}


def test_owner_is_the_longest_inventory_name():
    assert keys.key_owner("cmp-2-nova.key", HOSTS) == ("cmp-2", "nova")
    assert keys.key_owner("cmp-neutron.key", HOSTS) == ("cmp", "neutron")
    assert keys.key_owner("gone-nova.key", HOSTS) is None
    assert keys.key_owner("cmp-.key", HOSTS) is None
    assert keys.key_owner("README", HOSTS) is None


def test_proxies_drop_the_keys_of_hosts_that_left_the_inventory():
    result = keys.zmq_stale_client_keys(
        found("cmp-2-nova.key", "retired-nova.key", "monitor.key", "notes.txt"),
        HOSTS,
        keep=["monitor*"],
    )
    assert result == [f"{DIR}/retired-nova.key"]


def test_a_host_withdraws_its_keys_of_services_that_left_zeromq():
    names = ("cmp-nova.key", "cmp-neutron.key", "cmp-2-nova.key", "ctl-cinder.key")
    result = keys.zmq_stale_client_keys(found(*names), HOSTS, host="cmp", services=["nova"])
    # cmp-2's key is not cmp's even though its name starts with "cmp-".
    assert result == [f"{DIR}/cmp-neutron.key"]


def test_delegated_finds_give_proxy_and_path_pairs():
    loop = {
        "results": [
            dict(found("cmp-old.key"), item="zmq-proxy1"),
            {"skipped": True, "item": "zmq-proxy2"},
        ]
    }
    result = keys.zmq_stale_client_keys(loop, HOSTS, host="cmp", services=[])
    assert result == [["zmq-proxy1", f"{DIR}/cmp-old.key"]]


def test_a_skipped_find_prunes_nothing():
    assert keys.zmq_stale_client_keys({"skipped": True}, HOSTS) == []


@pytest.mark.parametrize("bad", [["a.key"], {"stdout": ""}])
def test_what_is_not_a_find_result_is_refused(bad):
    with pytest.raises(AnsibleFilterError, match="find results"):
        keys.zmq_stale_client_keys(bad, HOSTS)
