"""What converge left on the hosts: names, rendered transport, keys, running units, listeners."""

from __future__ import annotations

import re

import pytest
from conftest import (
    PROXIES,
    PROXY_UNIT,
    SERVICE_CONF,
    SERVICE_PYTHON,
    SERVICES,
    proxy_counters,
    wait_registered,
)

ZMQ_URL = "zmq://zmq@zmq-proxy1:9501,zmq@zmq-proxy2:9501/"
KEY_DIR = "/etc/oslo-messaging-zmq"
PUBLIC_KEY_RE = re.compile(r'^\s*public-key\s*=\s*"([^"]{40})"', re.MULTILINE)


def public_key(text: str) -> str:
    match = PUBLIC_KEY_RE.search(text)
    assert match, "no public-key line in:\n" + text
    return match.group(1)


@pytest.mark.parametrize("name", PROXIES + SERVICES)
def test_every_container_resolves_the_others(nodes, name):
    for other in PROXIES + SERVICES:
        address = nodes[other].check_output("hostname -I").split()[0]
        resolved = nodes[name].check_output("getent hosts %s", other).split()[0]
        assert resolved == address, f"{name} resolves {other} to {resolved}"


@pytest.mark.parametrize("name", SERVICES)
def test_service_config_carries_the_zmq_transport(nodes, name):
    conf = nodes[name].ini(SERVICE_CONF)
    assert conf.get("DEFAULT", "transport_url") == ZMQ_URL
    assert conf.getboolean("DEFAULT", "rpc_ping_enabled") is True
    assert conf.get("oslo_messaging_notifications", "transport_url") == ZMQ_URL
    # oslo_messaging_zmq_service_overrides reached the file.
    assert conf.get("oslo_messaging_notifications", "driver") == "messagingv2"
    assert conf.get("oslo_messaging_zmq", "security_mode") == "curve"
    assert (
        conf.get("oslo_messaging_zmq", "client_secret_key_file") == KEY_DIR + "/testsvc.key_secret"
    )
    assert conf.get("oslo_messaging_zmq", "server_public_key_file") == KEY_DIR + "/proxy.key"
    # prepare.yml's own line survived.
    assert conf.get("DEFAULT", "state_dir") == "/var/lib/testsvc"


@pytest.mark.parametrize("name", SERVICES)
def test_service_keys_match_the_proxy_tier(nodes, name):
    node = nodes[name]
    secret = node.sh.file(KEY_DIR + "/testsvc.key_secret")
    assert secret.exists
    assert secret.mode & 0o007 == 0, f"secret key is readable by others: {secret.mode:o}"
    proxy_public = public_key(nodes["zmq-proxy1"].check_output("cat /etc/zmq-proxy/keys/proxy.key"))
    assert public_key(node.check_output("cat %s/proxy.key", KEY_DIR)) == proxy_public
    assert "secret-key" not in node.check_output("cat %s/proxy.key", KEY_DIR)


@pytest.mark.parametrize("proxy", PROXIES)
def test_proxies_accept_both_service_keys(nodes, proxy):
    allowed = nodes[proxy].check_output("cat /etc/zmq-proxy/allowed_clients/*.key")
    accepted = set(PUBLIC_KEY_RE.findall(allowed))
    for name in SERVICES:
        own = public_key(nodes[name].check_output("cat %s/testsvc.key", KEY_DIR))
        assert own in accepted, f"{proxy} does not accept {name}'s key"


@pytest.mark.parametrize("proxy", PROXIES)
def test_proxy_units_are_running_curve(nodes, proxy):
    node = nodes[proxy]
    assert node.sh.service(PROXY_UNIT).is_running
    assert node.sh.service(PROXY_UNIT).is_enabled
    assert proxy_counters(node)["security_mode"] == "curve"


@pytest.mark.parametrize("name", SERVICES)
def test_service_runs_with_the_driver_in_its_venv(nodes, name):
    node = nodes[name]
    assert node.sh.service("testsvc.service").is_running
    assert node.sh.service("testsvc.service").is_enabled
    version = node.check_output(
        "%s -c 'import oslo_messaging_zmq, zmq; print(zmq.zmq_version())'", SERVICE_PYTHON
    )
    assert tuple(int(p) for p in version.split(".")[:2]) >= (4, 3)


@pytest.mark.parametrize("proxy", PROXIES)
def test_each_proxy_knows_both_service_hosts(ready, proxy):
    """Every service registers its RPC server and its notification listener with every proxy."""
    rpc, notify = wait_registered(ready[proxy])
    assert rpc >= 2
    assert notify >= 2
