"""Stage rabbit: the Debian-packaged cloud as built, on RabbitMQ (its smoke run is the rollback
stage's, on RabbitMQ too)."""

from __future__ import annotations

import time

import pytest
from conftest import (
    COMPUTE_TRANSPORTS,
    COMPUTES,
    CONTROLLER,
    CONTROLLER_TRANSPORTS,
    cell_mappings,
    host,
    masked,
    transport,
)

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


@pytest.mark.parametrize("unit", CONTROLLER_UNITS)
def test_controller_unit_active(unit):
    assert host(CONTROLLER).service(unit).is_running


@pytest.mark.parametrize("name", COMPUTES)
@pytest.mark.parametrize("unit", COMPUTE_UNITS)
def test_compute_unit_active(name, unit):
    assert host(name).service(unit).is_running


@pytest.mark.parametrize(("path", "user"), sorted(CONTROLLER_TRANSPORTS.items()))
def test_controller_services_on_rabbitmq_with_their_own_user(path, user):
    url = transport(host(CONTROLLER), path)
    assert url.startswith(f"rabbit://{user}:"), path
    assert url.endswith("@debian-ctl:5672/openstack"), path


@pytest.mark.parametrize("name", COMPUTES)
@pytest.mark.parametrize(("path", "user"), sorted(COMPUTE_TRANSPORTS.items()))
def test_compute_services_on_rabbitmq_with_their_own_user(name, path, user):
    assert transport(host(name), path).startswith(f"rabbit://{user}:"), (name, path)


@pytest.mark.parametrize("unit", PACKAGED_UNITS)
def test_controller_runs_debians_own_units(unit):
    """The packaged unit files, with no local override or drop-in."""
    show = host(CONTROLLER).check_output(
        "systemctl show -p FragmentPath -p DropInPaths --value %s.service", unit
    )
    fragment, *dropins = show.splitlines() + [""]
    assert fragment == f"/usr/lib/systemd/system/{unit}.service", show
    assert not any(dropins), show


def test_cell1_maps_nova_confs_literal_rabbit_url():
    """As `nova-manage cell_v2 create_cell` records it: a transport switch must update it."""
    url = cell_mappings()["cell1"]
    assert url.startswith("rabbit://nova:"), masked(url)
    assert url.endswith("@debian-ctl:5672/openstack"), masked(url)


def test_nova_compute_restarts_and_reports_up_again():
    """The stable fake driver keeps the node identity (compute_id) across restarts: without it
    nova-compute exits with "No local node identity found" and systemd restarts it in a loop."""
    compute = host(COMPUTES[0])
    compute.check_output("systemctl restart nova-compute.service")
    time.sleep(15)
    restarts = compute.check_output("systemctl show -p NRestarts --value nova-compute.service")
    assert compute.service("nova-compute").is_running
    assert restarts == "0"
    assert compute.file("/var/lib/nova/compute_id").exists
    state = host(CONTROLLER).check_output(
        "openstack --os-cloud debian compute service list --service nova-compute"
        " --host %s -f value -c State",
        COMPUTES[0],
    )
    assert state == "up"
