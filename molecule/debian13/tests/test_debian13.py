"""The Debian-packaged cloud after converge and the smoke play on RabbitMQ (side_effect)."""

from __future__ import annotations

import configparser
import io
import json
import os

import pytest
import testinfra

REPORT = os.environ.get("ZMQOS_SMOKE_REPORT", "")
CONTROLLER = "debian-ctl"
COMPUTES = ("debian-cmp1", "debian-cmp2")
# Debian's unit names, as its packages ship them.
CONTROLLER_UNITS = [
    "mariadb",
    "rabbitmq-server",
    "keystone",
    "glance-api",
    "placement-api",
    "nova-api",
    "nova-conductor",
    "nova-scheduler",
    "neutron-api",
    "neutron-rpc-server",
    "cinder-api",
    "cinder-scheduler",
    "cinder-volume",
]
COMPUTE_UNITS = ["openvswitch-switch", "neutron-openvswitch-agent", "nova-compute"]
# Debian's config files that carry each service's transport (its own RabbitMQ user).
CONTROLLER_TRANSPORTS = {
    "/etc/keystone/keystone.conf": "keystone",
    "/etc/glance/glance-api.conf": "glance",
    "/etc/nova/nova.conf": "nova",
    "/etc/neutron/neutron.conf": "neutron",
    "/etc/cinder/cinder.conf": "cinder",
}
COMPUTE_TRANSPORTS = {"/etc/nova/nova.conf": "nova", "/etc/neutron/neutron.conf": "neutron"}
# No swift in this cloud: the smoke play skips the object steps (not in the catalog).
SKIPPED_STEPS = {"objects_upload", "objects_readback"}


def _host(name: str):
    return testinfra.get_host("podman://" + name)


def _transport(host, path: str) -> str:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.read_file(io.StringIO(host.check_output("cat %s", path)))
    return parser.get("DEFAULT", "transport_url", fallback="")


@pytest.fixture(scope="module")
def report() -> dict:
    assert REPORT, "ZMQOS_SMOKE_REPORT is not set (run through molecule)"
    with open(REPORT, encoding="utf-8") as handle:
        return json.load(handle)


@pytest.mark.parametrize("unit", CONTROLLER_UNITS)
def test_controller_unit_active(unit):
    assert _host(CONTROLLER).service(unit).is_running


@pytest.mark.parametrize("name", COMPUTES)
@pytest.mark.parametrize("unit", COMPUTE_UNITS)
def test_compute_unit_active(name, unit):
    assert _host(name).service(unit).is_running


@pytest.mark.parametrize(("path", "user"), sorted(CONTROLLER_TRANSPORTS.items()))
def test_controller_services_on_rabbitmq_with_their_own_user(path, user):
    url = _transport(_host(CONTROLLER), path)
    assert url.startswith(f"rabbit://{user}:"), path
    assert url.endswith("@debian-ctl:5672/openstack"), path


@pytest.mark.parametrize("name", COMPUTES)
@pytest.mark.parametrize(("path", "user"), sorted(COMPUTE_TRANSPORTS.items()))
def test_compute_services_on_rabbitmq_with_their_own_user(name, path, user):
    assert _transport(_host(name), path).startswith(f"rabbit://{user}:"), (name, path)


def test_smoke_report_all_ok(report):
    steps = {s["name"]: s for s in report["steps"]}
    assert report["outcome"] == "OK", report
    not_ok = {n: s for n, s in steps.items() if s["outcome"] != "OK" and n not in SKIPPED_STEPS}
    assert not_ok == {}, not_ok
    for name in SKIPPED_STEPS:
        assert steps[name]["outcome"] == "SKIPPED", steps[name]


def test_smoke_booted_a_server_and_attached_a_volume(report):
    steps = {s["name"]: s["outcome"] for s in report["steps"]}
    for name in ("network", "server_boot", "server_reboot", "volume_from_image", "volume_attach"):
        assert steps.get(name) == "OK", steps
