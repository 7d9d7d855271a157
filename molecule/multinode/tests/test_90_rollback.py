"""Rollback to RabbitMQ and back, with the scenario's own converge play and inventory.

Runs last: it restarts the test service on another transport. zmq-svc2 stands in for the
RabbitMQ host (inventory group ``rabbitmq``); nothing listens there, only the rendered URL is
checked. zmq-svc1's service has RabbitMQ credentials of its own (user ``testsvc``, vhost
``/testsvc``, a password with ``@ / : % $``), zmq-svc2's falls back to the global ones. The
module fixture runs a forward converge at the end whatever happened, so the hosts are left on
ZeroMQ.
"""

from __future__ import annotations

import json
import os
import subprocess
from urllib.parse import quote, unquote, urlsplit

import pytest
from conftest import (
    INVENTORY,
    SCENARIO_DIR,
    SERVICE_CONF,
    SERVICES,
    token,
    wait_answering,
)

ZMQ_URL = "zmq://zmq@zmq-proxy1:9501,zmq@zmq-proxy2:9501/"
# Bound of one converge run (the first one, with installs, takes a few minutes on 2 cores).
PLAYBOOK_TIMEOUT = 900


def converge(*extra: str) -> subprocess.CompletedProcess:
    """The scenario's converge play on the service hosts only, as playbooks/rollback.yml does:
    the proxies stay as they are (and a run over them would only repeat the idempotence step)."""
    command = [
        "ansible-playbook",
        "-i",
        INVENTORY,
        "--limit",
        "zmq_services",
        os.path.join(SCENARIO_DIR, "converge.yml"),
    ]
    return subprocess.run(
        [*command, *extra],
        capture_output=True,
        text=True,
        timeout=PLAYBOOK_TIMEOUT,
        check=False,
        cwd=SCENARIO_DIR,
    )


def tail(run: subprocess.CompletedProcess) -> str:
    return (run.stdout + run.stderr)[-4000:]


@pytest.fixture(scope="module")
def rollback(ready):
    own = token("svc-p@ss/w:rd%41$")
    shared = token("rabbit-secret")
    state = {"own": own, "shared": shared, "restored": False}
    state["run"] = converge(
        "-e",
        json.dumps(
            {
                "oslomsg_rpc_transport": "rabbit",
                "oslomsg_rpc_password": shared,
                "testsvc_rabbit_password": own,
            }
        ),
    )
    yield state
    if not state["restored"]:
        converge()


# (user, password, vhost) each host's service must get.
def expected_credentials(rollback: dict) -> dict:
    return {
        "zmq-svc1": ("testsvc", rollback["own"], "/testsvc"),
        "zmq-svc2": ("openstack", rollback["shared"], ""),
    }


def test_rollback_run_renders_rabbit(rollback, nodes):
    run = rollback["run"]
    assert run.returncode == 0, tail(run)
    for secret in (rollback["own"], quote(rollback["own"], safe=""), rollback["shared"]):
        assert secret not in run.stdout + run.stderr, "a password was logged"
    for name, (user, password, vhost) in expected_credentials(rollback).items():
        conf = nodes[name].ini(SERVICE_CONF)
        for section in ("DEFAULT", "oslo_messaging_notifications"):
            raw = conf.get(section, "transport_url")
            url = urlsplit(raw)
            assert url.scheme == "rabbit", (name, section, url.scheme)
            assert url.hostname == "zmq-svc2"
            assert url.port == 5672
            assert unquote(url.username) == user, (name, section)
            # Percent-encoded: the URL parses, and decodes to the password exactly.
            assert unquote(url.password) == password, (name, section, raw)
            assert unquote(url.path[1:]) == vhost, (name, section, raw)
            assert "$" not in raw, "oslo.config would substitute the '$'"
        assert not conf.has_section("oslo_messaging_zmq"), name
        # Everything that is not the transport stays.
        assert conf.get("DEFAULT", "state_dir") == "/var/lib/testsvc"
        assert conf.getboolean("DEFAULT", "rpc_ping_enabled") is True


def test_forward_run_restores_zmq(rollback, nodes):
    run = converge()
    assert run.returncode == 0, tail(run)
    rollback["restored"] = True
    for name in SERVICES:
        conf = nodes[name].ini(SERVICE_CONF)
        assert conf.get("DEFAULT", "transport_url") == ZMQ_URL
        assert conf.get("oslo_messaging_notifications", "transport_url") == ZMQ_URL
        assert conf.get("oslo_messaging_zmq", "security_mode") == "curve"
        text = nodes[name].read(SERVICE_CONF)
        for secret in (rollback["own"], quote(rollback["own"], safe=""), rollback["shared"]):
            assert secret not in text
    # The restarted services answer each other again over ZeroMQ.
    wait_answering(nodes["zmq-svc1"], "zmq-svc2", 90)
    wait_answering(nodes["zmq-svc2"], "zmq-svc1", 90)
    value = token("restored")
    result = nodes["zmq-svc1"].call("zmq-svc2", "echo", value=value)
    assert result["ok"], result
    assert result["result"] == {"value": value, "host": "zmq-svc2"}
