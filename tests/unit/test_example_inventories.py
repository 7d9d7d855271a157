"""The example inventories: every host's service entries pass the role's checks, and the
Debian one names what Debian 13's packages ship.

The variables are read through ansible (debug, which needs no connection), so templated
values (the first controller's ``cells``) are resolved as in a real run.
"""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

TOP = Path(__file__).resolve().parents[2]
# The role's filters, loaded from their file (they import nothing of the collection).
_spec = importlib.util.spec_from_file_location(
    "oslo_messaging_zmq_filters", TOP / "plugins/filter/oslo_messaging_zmq.py"
)
f = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(f)
ROLE_VARS = yaml.safe_load((TOP / "roles/oslo_messaging_zmq/vars/main.yml").read_text())
# systemd units of Debian 13's OpenStack 2025.1 packages (dpkg -c of the trixie .debs: nova-api
# 31.0.0-6+deb13u3 ships nova-api and nova-api-metadata, nova-consoleproxy nova-novncproxy,
# neutron-periodic-workers only an init script, from which systemd generates its unit).
DEBIAN13_UNITS = {
    "nova-api.service", "nova-api-metadata.service", "nova-conductor.service",
    "nova-scheduler.service", "nova-compute.service", "nova-novncproxy.service",
    "nova-serialproxy.service", "nova-spicehtml5proxy.service",
    "neutron-api.service", "neutron-rpc-server.service", "neutron-periodic-workers.service",
    "neutron-openvswitch-agent.service", "neutron-dhcp-agent.service",
    "neutron-l3-agent.service", "neutron-metadata-agent.service",
    "neutron-linuxbridge-agent.service", "neutron-ovn-metadata-agent.service",
    "cinder-api.service", "cinder-scheduler.service", "cinder-volume.service",
    "cinder-backup.service", "glance-api.service", "keystone.service", "heat-api.service",
    "heat-api-cfn.service", "heat-engine.service", "placement-api.service",
}  # fmt: skip


def hostvars(inventory: str) -> dict:
    env = dict(
        os.environ,
        ANSIBLE_COLLECTIONS_PATH=str(TOP / ".collections"),
        ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
        ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
    )
    run = subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible"),
            "all",
            "-i",
            str(TOP / "inventories" / inventory),
            "-m",
            "ansible.builtin.debug",
            "-a",
            "var=oslo_messaging_zmq_services",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=True,
    )
    task = json.loads(run.stdout)["plays"][0]["tasks"][0]
    return {host: result["oslo_messaging_zmq_services"] for host, result in task["hosts"].items()}


# Inventory -> the hosts whose nova entry updates the cell mappings.
CELL_HOSTS = {"multinode": ["ctl1"], "debian": ["ctl1"], "aio": []}


@pytest.fixture(scope="module", params=sorted(CELL_HOSTS))
def inventory(request):
    return request.param, hostvars(request.param)


def test_every_entry_passes_the_role_checks(inventory):
    name, hosts = inventory
    for host, services in hosts.items():
        if not services or services == "VARIABLE IS NOT DEFINED!":
            continue
        problems = f.oslo_messaging_zmq_entry_problems(
            services,
            ROLE_VARS["_oslo_messaging_zmq_service_traits"],
            ROLE_VARS["_oslo_messaging_zmq_default_traits"],
            "zmq",
            "zmq",
        )
        assert problems == [], (name, host, problems)


def test_exactly_one_host_updates_nova_cells(inventory):
    name, hosts = inventory
    cells = [h for h, s in hosts.items() if isinstance(s, dict) and s.get("nova", {}).get("cells")]
    assert cells == CELL_HOSTS[name], (name, cells)


def test_debian_entries_use_the_system_python_and_debian_units():
    hosts = hostvars("debian")
    seen = set()
    for host, services in hosts.items():
        if not isinstance(services, dict):
            continue
        for service, entry in services.items():
            assert entry["python"] == "/usr/bin/python3", (host, service)
            assert entry["user"] == entry["group"] == service, (host, service)
            assert set(entry["units"]) <= DEBIAN13_UNITS, (host, service, entry["units"])
            assert entry["config_files"][0].startswith(f"/etc/{service}/"), (host, service)
            seen.update(f"{host}:{u}" for u in entry["units"])
    # Network, storage and compute hosts all have services (playbooks/services.yml reaches them).
    for host in ("net1", "st1", "cmp1"):
        assert any(s.startswith(host + ":") for s in seen), host
    assert "cmp1:neutron-openvswitch-agent.service" in seen


def _entries(path: Path) -> dict:
    return yaml.safe_load(path.read_text())["oslo_messaging_zmq_services"]


def test_debian13_scenario_runs_the_debian_example_cut_down():
    """The Debian-packaged test cloud's entries (molecule/debian13) are inventories/debian's:
    same files, interpreter, users and RabbitMQ users; units a subset of the example's."""
    example_dir = TOP / "inventories/debian/group_vars"
    example: dict[str, dict] = {}
    for tier in ("controllers", "network_nodes", "storage_nodes", "computes"):
        for service, entry in _entries(example_dir / f"openstack_{tier}.yml").items():
            merged = example.setdefault(service, dict(entry, units=[]))
            merged["units"] = merged["units"] + entry["units"]
    scenario_dir = TOP / "molecule/debian13/group_vars"
    for tier in ("controllers", "computes"):
        for service, entry in _entries(scenario_dir / f"openstack_{tier}.yml").items():
            model = example[service]
            for key in ("config_files", "python", "user", "group", "rabbit_userid"):
                assert entry[key] == model[key], (tier, service, key)
            assert set(entry["units"]) <= set(model["units"]), (tier, service, entry["units"])
