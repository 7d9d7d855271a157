"""Stage zmq: playbooks/site.yml switched the Debian cloud to ZeroMQ; RabbitMQ is stopped."""

from __future__ import annotations

import pytest
from conftest import (
    CONTROLLER,
    EVERY_TRANSPORT,
    NOTIFY_ONLY,
    PROXIES,
    assert_all_ok,
    cell_mappings,
    config,
    host,
    proxy_metrics,
    routed,
    smoke_report,
    transport,
)

# Both proxies, in the inventory group's order (which Molecule's generated inventory sets).
PROXY_NETLOCS = {"zmq@debian-ctl:9501", "zmq@debian-cmp2:9501"}


def _is_both_proxies(url: str) -> bool:
    scheme, _, rest = url.partition("://")
    return scheme == "zmq" and rest.endswith("/") and set(rest[:-1].split(",")) == PROXY_NETLOCS


@pytest.fixture(scope="module")
def zmq_url() -> str:
    return transport(host(CONTROLLER), "/etc/nova/nova.conf")


@pytest.fixture(scope="module")
def report() -> dict:
    return smoke_report("zmq")


@pytest.mark.parametrize(("name", "path", "user"), EVERY_TRANSPORT)
def test_every_service_file_names_both_proxies_with_curve(zmq_url, name, path, user):
    node = host(name)
    assert _is_both_proxies(zmq_url), zmq_url
    assert transport(node, path, "oslo_messaging_notifications") == zmq_url, (name, path)
    if user not in NOTIFY_ONLY:
        assert transport(node, path) == zmq_url, (name, path)
    parsed = config(node, path)
    assert parsed.get("oslo_messaging_zmq", "security_mode") == "curve", (name, path)
    secret = parsed.get("oslo_messaging_zmq", "client_secret_key_file")
    key = node.file(secret)
    assert key.exists and key.mode & 0o007 == 0, (name, secret)


@pytest.mark.parametrize("name", sorted({n for n, _, _ in EVERY_TRANSPORT}))
def test_debians_python_runs_the_driver_beside_its_own_oslo_messaging(name):
    out = host(name).check_output(
        "python3 -c 'import importlib.metadata as m;"
        ' print(m.version("oslo.messaging.zmq"), m.version("oslo.messaging"))\''
    )
    driver, oslo = out.split()
    assert oslo.startswith("16.1."), out
    assert driver


def test_rabbitmq_is_stopped():
    assert not host(CONTROLLER).service("rabbitmq-server").is_running


def test_cell1_is_mapped_to_the_proxies(zmq_url):
    """nova-api and the super-conductor reach cell1 through this URL, not through nova.conf."""
    cells = cell_mappings()
    assert cells["cell1"] == zmq_url, cells
    assert cells["cell0"].startswith("none:"), cells


def test_smoke_all_ok_with_every_required_target_routed(report):
    steps = assert_all_ok(report)
    assert sorted(report["proxies_read"]) == sorted(PROXIES)
    assert report["proxies_down"] == []
    for name, step in steps.items():
        assert step["unmet"] == [], (name, step)
    assert steps["server_boot"]["required"], "the boot must require nova's and neutron's RPC"
    assert routed(steps["server_boot"], "rpc/nova/compute") > 0
    assert routed(steps["volume_attach"], "rpc/openstack/cinder-volume") > 0


def test_both_proxies_carry_traffic():
    """Each service sticks to one proxy, picked by its routing id: both get some."""
    for name in PROXIES:
        metrics = proxy_metrics(name)
        assert metrics["security_mode"] == "curve"
        assert metrics["counters"]["routed"] > 0, (name, metrics["counters"])
        assert metrics["counters"].get("auth_denied", 0) == 0, (name, metrics["counters"])
