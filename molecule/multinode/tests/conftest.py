"""Helpers of the multinode tests: the scenario's hosts by name, the ping module, bounded waits.

Tests run once each (they do not take testinfra's per-host ``host`` fixture) and pick the hosts
they act on by name: a call *from* zmq-svc1 *to* zmq-svc2 runs the collection's module
``zeromq.openstack.oslo_messaging_ping`` on zmq-svc1 (``host.ansible``, so through the Molecule
inventory), and its effect is read on zmq-svc2.
"""

from __future__ import annotations

import configparser
import io
import json
import os
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import testinfra

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]

PROXIES = ("zmq-proxy1", "zmq-proxy2")
SERVICES = ("zmq-svc1", "zmq-svc2")
PROXY_UNIT = "zmq-proxy@main.service"
HEALTH_URL = "http://127.0.0.1:9502"

SERVICE_CONF = "/etc/testsvc/testsvc.conf"
SERVICE_PYTHON = "/opt/testsvc/venv/bin/python"
RPC_LOG = "/var/lib/testsvc/rpc.log"
NOTIFY_LOG = "/var/lib/testsvc/notifications.log"
RPC_TOPIC = "testsvc"
NOTIFY_TOPIC = "testsvc_notifications"

# Upper bounds of every wait in the tests (seconds).
READY_TIMEOUT = 90
DELIVERY_TIMEOUT = 20
PING_TIMEOUT = 10


def _inventory_hostvars() -> dict[str, dict]:
    out = testinfra.get_host("local://").check_output("ansible-inventory -i %s --list", INVENTORY)
    return json.loads(out)["_meta"]["hostvars"]


class Node:
    """One container: ``ansible`` runs modules through the inventory, ``sh`` runs commands.

    Commands go straight through ``podman exec`` when the inventory says the host is a podman
    container (much faster than one ansible run per command), through ansible otherwise.
    """

    def __init__(self, name: str, hostvars: dict) -> None:
        self.name = name
        self.ansible_host = testinfra.get_host("ansible://" + name, ansible_inventory=INVENTORY)
        if hostvars.get("ansible_connection") in (
            "podman",
            "containers.podman.podman",
            "lab_nsenter",
        ):
            self.sh = testinfra.get_host("podman://" + name)
        else:
            self.sh = self.ansible_host

    def run(self, command: str, *args: Any):
        return self.sh.run(command, *args)

    def check_output(self, command: str, *args: Any) -> str:
        return self.sh.check_output(command, *args)

    def read(self, path: str) -> str:
        """Content of a file, empty when it does not exist."""
        result = self.run("cat %s 2>/dev/null || true", path)
        return result.stdout

    def ini(self, path: str) -> configparser.ConfigParser:
        parser = configparser.ConfigParser(interpolation=None, strict=False)
        parser.read_file(io.StringIO(self.check_output("cat %s", path)))
        return parser

    def http_json(self, path: str) -> tuple[int, dict]:
        """GET HEALTH_URL+path on the host's loopback: (status, body); status 0 if unreachable."""
        script = (
            "import json, sys, urllib.request, urllib.error\n"
            "try:\n"
            "    r = urllib.request.urlopen(sys.argv[1], timeout=5)\n"
            "    print(json.dumps([r.status, json.load(r)]))\n"
            "except urllib.error.HTTPError as e:\n"
            "    print(json.dumps([e.code, {}]))\n"
            "except OSError:\n"
            "    print(json.dumps([0, {}]))\n"
        )
        out = self.check_output("python3 -c %s %s", script, HEALTH_URL + path)
        status, body = json.loads(out)
        return status, body

    def ping(self, **options: Any) -> dict:
        """Run zeromq.openstack.oslo_messaging_ping on this host; return its result."""
        args = {
            "config_files": [SERVICE_CONF],
            "python": SERVICE_PYTHON,
            "timeout": PING_TIMEOUT,
            "fail_on_error": False,
        }
        args.update(options)
        return self.ansible_host.ansible(
            "zeromq.openstack.oslo_messaging_ping", json.dumps(args), check=False
        )

    def call(self, server: str, method: str = "echo", **args: Any) -> dict:
        return self.ping(kind="call", topic=RPC_TOPIC, server=server, method=method, args=args)


def wait_for(what: str, probe: Callable[[], Any], timeout: float, interval: float = 1.0) -> Any:
    """Return probe()'s first truthy value; fail the test after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout} s (last: {value!r})")
        time.sleep(interval)


def token(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


def lines_with(text: str, needle: str) -> list[dict]:
    """The JSON lines of a testsvc log that mention needle."""
    return [json.loads(line) for line in text.splitlines() if needle in line]


def proxy_counters(node: Node) -> dict:
    status, body = node.http_json("/stats")
    assert status == 200, f"{node.name}: /stats answered {status}"
    return body


def listeners(metrics: dict, kind: str, topic: str) -> int:
    """Listeners a proxy has registered for a topic (kind rpc or notify, any exchange)."""
    return max(
        (
            entry.get("listeners", 0)
            for label, entry in metrics["targets"].items()
            if label.startswith(kind + "/") and label.split("/")[-1].split(".")[0] == topic
        ),
        default=0,
    )


def routed(metrics: dict, topic: str) -> int:
    """RPC messages a proxy routed to a topic (any exchange)."""
    return sum(
        entry.get("routed", 0)
        for label, entry in metrics["targets"].items()
        if label.startswith("rpc/") and label.split("/")[-1] == topic
    )


def wait_registered(node: Node, timeout: float = 30) -> tuple[int, int]:
    """Wait until a proxy has both services' RPC servers and notification listeners."""

    def both() -> tuple[int, int] | None:
        metrics = proxy_counters(node)
        rpc = listeners(metrics, "rpc", RPC_TOPIC)
        notify = listeners(metrics, "notify", NOTIFY_TOPIC)
        return (rpc, notify) if rpc >= len(SERVICES) and notify >= len(SERVICES) else None

    return wait_for(f"{node.name} sees both services", both, timeout)


def wait_healthy(node: Node, timeout: float = READY_TIMEOUT) -> None:
    wait_for(
        f"{node.name} health probe",
        lambda: node.http_json("/healthz")[0] == 200,
        timeout,
    )


def wait_answering(caller: Node, server: str, timeout: float = READY_TIMEOUT) -> dict:
    """Wait until server answers oslo_rpc_server_ping from caller; return the last result."""
    return wait_for(
        f"{caller.name} -> {server} ping",
        lambda: (lambda r: r if r["ok"] else None)(caller.call(server, "oslo_rpc_server_ping")),
        timeout,
        interval=2.0,
    )


@pytest.fixture(scope="session")
def nodes() -> dict[str, Node]:
    hostvars = _inventory_hostvars()
    return {name: Node(name, hostvars.get(name, {})) for name in PROXIES + SERVICES}


@pytest.fixture(scope="session")
def ready(nodes: dict[str, Node]) -> dict[str, Node]:
    """Both proxies healthy and each service answering the other: the start line of every test."""
    for name in PROXIES:
        wait_healthy(nodes[name])
    wait_answering(nodes["zmq-svc1"], "zmq-svc2")
    wait_answering(nodes["zmq-svc2"], "zmq-svc1")
    return nodes
