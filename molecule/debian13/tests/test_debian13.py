"""The Debian-packaged cloud after converge and the smoke play on RabbitMQ (side_effect)."""

from __future__ import annotations

import configparser
import io
import json
import os
import time

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
# Units whose files must be Debian's, untouched.
PACKAGED_UNITS = [
    "keystone",
    "placement-api",
    "nova-api",
    "nova-conductor",
    "neutron-api",
    "cinder-volume",
]
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


@pytest.mark.parametrize("unit", PACKAGED_UNITS)
def test_controller_runs_debians_own_units(unit):
    """The packaged unit files, with no local override or drop-in."""
    show = _host(CONTROLLER).check_output(
        "systemctl show -p FragmentPath -p DropInPaths --value %s.service", unit
    )
    fragment, *dropins = show.splitlines() + [""]
    assert fragment == f"/usr/lib/systemd/system/{unit}.service", show
    assert not any(dropins), show


def test_cell1_maps_nova_confs_literal_rabbit_url():
    """As `nova-manage cell_v2 create_cell` records it: a transport switch must update it."""
    cells = _host(CONTROLLER).check_output(
        "runuser -u nova -- nova-manage cell_v2 list_cells --verbose 2>/dev/null | grep ' cell1 '"
    )
    assert "rabbit://nova:" in cells
    assert "@debian-ctl:5672/openstack" in cells


def test_nova_compute_restarts_and_reports_up_again():
    """The stable fake driver keeps the node identity (compute_id) across restarts: without it
    nova-compute exits with "No local node identity found" and systemd restarts it in a loop."""
    compute = _host(COMPUTES[0])
    compute.check_output("systemctl restart nova-compute.service")
    time.sleep(15)
    restarts = compute.check_output("systemctl show -p NRestarts --value nova-compute.service")
    assert compute.service("nova-compute").is_running
    assert restarts == "0"
    assert compute.file("/var/lib/nova/compute_id").exists
    state = _host(CONTROLLER).check_output(
        "openstack --os-cloud debian compute service list --service nova-compute"
        " --host %s -f value -c State",
        COMPUTES[0],
    )
    assert state == "up"
