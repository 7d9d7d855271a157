"""playbooks/services.yml reaches every host that has services, once, in the right tier.

Runs the real playbook in check mode with only the role's preflight (--tags), against local
hosts that stand for controllers, network, storage and compute nodes, a host in no known group
and hosts without services; the json callback tells which play touched which host.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

TOP = Path(__file__).resolve().parents[2]


def _inventory(tmp_path: Path) -> Path:
    conf = tmp_path / "svc.conf"
    conf.write_text("[DEFAULT]\n")
    services = {"svc": {"config_files": [str(conf)], "python": sys.executable}}
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    with_services = dict(local, oslo_messaging_zmq_services=services)
    inventory = {
        "all": {
            "vars": {
                "oslomsg_rpc_transport": "rabbit",
                "oslomsg_rpc_password": "x",
                "ansible_become": False,
            },
            "hosts": {
                "ctl1": with_services,
                "net1": with_services,
                "st1": with_services,
                "cmp1": with_services,
                "cmp2": with_services,
                "odd1": with_services,
                "bare1": local,
                "rmq1": local,
            },
            "children": {
                "openstack_controllers": {"hosts": {"ctl1": {}}},
                # A controller that is also a compute (the lab) is switched once, as a controller.
                "openstack_computes": {"hosts": {"ctl1": {}, "cmp1": {}, "cmp2": {}, "bare1": {}}},
                # A network node that also runs nova-compute belongs to the network tier.
                "openstack_network_nodes": {"hosts": {"net1": {}, "cmp2": {}}},
                "openstack_storage_nodes": {"hosts": {"st1": {}}},
                "rabbitmq": {"hosts": {"rmq1": {}}},
            },
        }
    }
    path = tmp_path / "inventory.yml"
    path.write_text(yaml.safe_dump(inventory))
    return path


def test_every_host_with_services_is_switched_once_in_its_tier(tmp_path):
    env = dict(
        os.environ,
        ANSIBLE_COLLECTIONS_PATH=str(TOP / ".collections"),
        ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
        ANSIBLE_NOCOLOR="1",
    )
    command = [
        str(Path(sys.executable).parent / "ansible-playbook"),
        "--check",
        "--tags",
        "oslo_messaging_zmq_preflight",
        "-i",
        str(_inventory(tmp_path)),
        str(TOP / "playbooks" / "services.yml"),
    ]
    run = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600, check=False)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    report = json.loads(run.stdout)
    plays: dict[str, set] = {}
    for play in report["plays"]:
        hosts = plays.setdefault(play["play"]["name"], set())
        for task in play["tasks"]:
            hosts.update(task["hosts"])
    assert plays == {
        "Sort the hosts with OpenStack services into tiers": {
            "ctl1",
            "net1",
            "st1",
            "cmp1",
            "cmp2",
            "odd1",
            "bare1",
            "rmq1",
        },
        "Put the control plane on the configured transport": {"ctl1"},
        "Put the network nodes on the configured transport": {"net1", "cmp2"},
        "Put the storage nodes on the configured transport": {"st1"},
        "Put the computes and every other host with services on the configured transport": {
            "cmp1",
            "odd1",
        },
    }
