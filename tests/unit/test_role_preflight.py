"""Bad role input fails in preflight with a message that names the variable.

Each case runs the real role with ansible-playbook against local connections in check mode (so
even a preflight bug could not change this machine) and asserts on the failure message.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

TOP = Path(__file__).resolve().parents[2]
SERVICE = {"config_files": ["/etc/nova/nova.conf"], "python": "/opt/nova/bin/python"}
ONE_PROXY = {"zmq_proxies": ["localhost"]}

CASES = [
    # (id, role, inventory groups, bad variables, text the failure must contain)
    ("libzmq-choice", "libzmq", {}, {"libzmq_python_env": "virtualenv"}, "libzmq_python_env"),
    (
        "libzmq-relative-venv",
        "libzmq",
        {},
        {"libzmq_python_env": "venv", "libzmq_venv_path": "relative/venv"},
        "libzmq_venv_path",
    ),
    ("libzmq-typo", "libzmq", {}, {"libzmq_pyzmq_verison": "27.3.0"}, "libzmq_pyzmq_verison"),
    ("libzmq-min-version", "libzmq", {}, {"libzmq_min_version": "four"}, "libzmq_min_version"),
    ("libzmq-list", "libzmq", {}, {"libzmq_extra_packages": "x"}, "libzmq_extra_packages"),
    ("libzmq-role-list", "libzmq", {}, {"libzmq_role_packages": "gcc"}, "libzmq_role_packages"),
    ("proxy-empty-group", "zmq_proxy", {"zmq_proxies": []}, {}, "zmq_proxy_group"),
    (
        "proxy-duplicate-ports",
        "zmq_proxy",
        ONE_PROXY,
        {
            "zmq_proxy_instances": [
                {"name": "a", "port": 1, "health_port": 2},
                {"name": "b", "port": 1, "health_port": 3},
            ]
        },
        "zmq_proxy_instances",
    ),
    ("proxy-typo", "zmq_proxy", ONE_PROXY, {"zmq_proxy_hold_tll": 5}, "zmq_proxy_hold_tll"),
    (
        "service-without-config",
        "oslo_messaging_zmq",
        ONE_PROXY,
        {"oslo_messaging_zmq_services": {"nova": {"python": "/opt/nova/bin/python"}}},
        "oslo_messaging_zmq_services.nova needs config_files",
    ),
    (
        "empty-proxy-group",
        "oslo_messaging_zmq",
        {"zmq_proxies": []},
        {"oslo_messaging_zmq_services": {"nova": SERVICE}},
        "oslo_messaging_zmq_proxy_group",
    ),
    (
        "curve-without-keys",
        "oslo_messaging_zmq",
        ONE_PROXY,
        {
            "oslo_messaging_zmq_services": {"nova": SERVICE},
            "oslo_messaging_zmq_proxy_key_dir": "/nonexistent/zmq-proxy/keys",
        },
        "oslo_messaging_zmq_security_mode=curve",
    ),
    (
        "unknown-transport",
        "oslo_messaging_zmq",
        ONE_PROXY,
        {"oslomsg_rpc_transport": "kafka", "oslo_messaging_zmq_services": {"nova": SERVICE}},
        "oslo_messaging_zmq_rpc_transport must be one of: zmq, rabbit, got: kafka",
    ),
    (
        "rabbit-without-password",
        "oslo_messaging_zmq",
        {"rabbitmq": ["localhost"]},
        {"oslomsg_rpc_transport": "rabbit", "oslo_messaging_zmq_services": {"nova": SERVICE}},
        "oslo_messaging_zmq_rabbit_password",
    ),
    (
        "service-rabbit-without-password",
        "oslo_messaging_zmq",
        {"rabbitmq": ["localhost"]},
        {
            "oslomsg_rpc_transport": "rabbit",
            "oslo_messaging_zmq_services": {"nova": dict(SERVICE, rabbit_userid="nova")},
        },
        "nova.rabbit_password or oslo_messaging_zmq_rabbit_password",
    ),
    (
        "rabbit-without-hosts",
        "oslo_messaging_zmq",
        {},
        {
            "oslomsg_rpc_transport": "rabbit",
            "oslo_messaging_zmq_services": {"nova": dict(SERVICE, rabbit_password="x")},
        },
        "oslo_messaging_zmq_rabbit_host_group",
    ),
    (
        "service-key-typo",
        "oslo_messaging_zmq",
        ONE_PROXY,
        {"oslo_messaging_zmq_services": {"nova": dict(SERVICE, rabit_vhost="nova")}},
        "oslo_messaging_zmq_services.nova has unknown key(s) rabit_vhost",
    ),
    (
        "services-typo",
        "oslo_messaging_zmq",
        ONE_PROXY,
        {"oslo_messaging_zmq_servics": {"nova": SERVICE}},
        "oslo_messaging_zmq_servics",
    ),
    (
        "notifications-no-targets",
        "lab_notifications",
        {},
        {"lab_notifications_targets": []},
        "lab_notifications_targets is empty",
    ),
    (
        "notifications-no-venv",
        "lab_notifications",
        {},
        {"lab_notifications_venv_path": "/nonexistent/venv"},
        "lab_notifications_venv_path",
    ),
    ("smoke-typo", "smoke", {}, {"smoke_clod": "lab"}, "smoke_clod"),
    ("smoke-no-such-group", "smoke", {}, {"smoke_proxy_group": "proxies"}, "smoke_proxy_group"),
    ("smoke-zero-objects", "smoke", {}, {"smoke_object_count": 0}, "smoke_object_count"),
    (
        "smoke-missing-clouds-yaml",
        "smoke",
        {"zmq_proxies": ["localhost"]},
        {"smoke_clouds_yaml": "/nonexistent/clouds.yaml"},
        "smoke_clouds_yaml",
    ),
]


def _run_role(role: str, groups: dict, variables: dict, tmp_path: Path, host_vars=None):
    inventory = {
        "all": {
            "hosts": {
                "localhost": {
                    "ansible_connection": "local",
                    "ansible_python_interpreter": sys.executable,
                    **(host_vars or {}),
                }
            },
            "children": {g: {"hosts": {h: {} for h in hosts}} for g, hosts in groups.items()},
        }
    }
    (tmp_path / "inventory.yml").write_text(yaml.safe_dump(inventory))
    playbook = tmp_path / "play.yml"
    playbook.write_text(
        f"- hosts: localhost\n  gather_facts: true\n  roles:\n    - zeromq.openstack.{role}\n"
    )
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(TOP / ".collections"), ANSIBLE_NOCOLOR="1")
    command = [
        str(Path(sys.executable).parent / "ansible-playbook"),
        "--check",
        "-i",
        str(tmp_path / "inventory.yml"),
        "-e",
        json.dumps(variables),
        str(playbook),
    ]
    return subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=300, check=False
    )


@pytest.mark.parametrize(
    ("role", "groups", "variables", "named"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_input_fails_in_preflight_naming_the_variable(role, groups, variables, named, tmp_path):
    result = _run_role(role, groups, variables, tmp_path)
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode != 0, output
    assert named in output, output
    # Nothing past preflight ran.
    for later in ("Install |", "Configure |", "Service |"):
        assert later not in output, output


def test_a_service_password_stays_out_of_a_failed_preflight(tmp_path):
    secret = "Svc-p@ss/w0rd"
    entry = dict(SERVICE, rabbit_password=secret, units="nova-api.service")
    result = _run_role(
        "oslo_messaging_zmq",
        {"rabbitmq": ["localhost"]},
        {"oslomsg_rpc_transport": "rabbit", "oslo_messaging_zmq_services": {"nova": entry}},
        tmp_path,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "oslo_messaging_zmq_services.nova.units must be a list" in output, output
    assert secret not in output


def test_an_old_service_python_fails_before_the_install_naming_the_service(tmp_path):
    """A service interpreter below the driver's floors (a stand-in reporting Python 3.9 and
    oslo.messaging 12.7) stops the role at its first install task."""
    python = tmp_path / "python3"
    facts = {
        "python_version": "3.9.2",
        "packages": {"oslo.messaging": "12.7.1", "pyzmq": None},
    }
    python.write_text(f"#!/bin/sh\ncat >/dev/null\necho '{json.dumps(facts)}'\n")
    python.chmod(0o755)
    conf = tmp_path / "nova.conf"
    conf.write_text("[DEFAULT]\n")
    entry = {"config_files": [str(conf)], "python": str(python)}
    result = _run_role(
        "oslo_messaging_zmq",
        ONE_PROXY,
        {"oslomsg_zmq_security_mode": "plain", "oslo_messaging_zmq_services": {"nova": entry}},
        tmp_path,
    )
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode != 0, output
    assert f"nova ({python}), before install: Python 3.9.2 is older than" in output, output
    assert "oslo.messaging 12.7.1 is older than the driver's floor" in output, output
    assert "Configure |" not in output


MISSING_PACKAGE = "zmqos-no-such-package"


@pytest.mark.parametrize("role", ["zmq_proxy", "oslo_messaging_zmq"])
def test_a_role_that_includes_libzmq_keeps_the_users_extra_packages(role, tmp_path):
    """zmq_proxy and oslo_messaging_zmq include libzmq with packages of their own (a compiler,
    pip); an inventory's libzmq_extra_packages must still reach the package task. In check
    mode apt refuses a package that does not exist, naming it."""
    conf = tmp_path / "nova.conf"
    conf.write_text("[DEFAULT]\n")
    variables = {}
    if role == "oslo_messaging_zmq":
        variables = {
            "oslo_messaging_zmq_security_mode": "plain",
            "oslo_messaging_zmq_services": {
                "nova": {"config_files": [str(conf)], "python": sys.executable}
            },
        }
    host_vars = {"libzmq_extra_packages": [MISSING_PACKAGE]}
    result = _run_role(role, ONE_PROXY, variables, tmp_path, host_vars)
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode != 0, output
    assert f"No package matching '{MISSING_PACKAGE}'" in output, output
