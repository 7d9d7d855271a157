"""The lab keeps its state (passwords, clouds.yaml, reports) in one place: lab_state_dir.

It is set in the lab's inventory, by default the checkout's .lab/, and never derived from a
playbook's directory (a playbook may be run from anywhere, or imported by Molecule).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

TOP = Path(__file__).resolve().parents[3]
# Lab variables that name files on the controller; each must live under lab_state_dir.
STATE_VARS = [
    "lab_keystone_secrets_dir",
    "lab_placement_secrets_dir",
    "lab_glance_secrets_dir",
    "lab_swift_secrets_dir",
    "lab_nova_secrets_dir",
    "lab_neutron_secrets_dir",
    "lab_cinder_secrets_dir",
    "lab_cloud_secrets_dir",
    "lab_cloud_controller_clouds_yaml",
    "smoke_report_file",
    "tempest_report_file",
]


def _resolved(extra_env: dict[str, str]) -> dict:
    env = dict(
        os.environ,
        ANSIBLE_COLLECTIONS_PATH=str(TOP / ".collections"),
        ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
        ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
        **extra_env,
    )
    for name in ("ZMQOS_LAB_STATE_DIR", "ZMQOS_SMOKE_REPORT", "ZMQOS_TEMPEST_REPORT"):
        if name not in extra_env:
            env.pop(name, None)
    names = ["lab_state_dir", *STATE_VARS]
    run = subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible"),
            "aio1",
            "-i",
            str(TOP / "inventories" / "aio"),
            "-m",
            "ansible.builtin.debug",
            "-a",
            "var=[" + ",".join(names) + "]",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=TOP,
        timeout=300,
        check=True,
    )
    result = json.loads(run.stdout)["plays"][0]["tasks"][0]["hosts"]["aio1"]
    return dict(zip(names, next(v for k, v in result.items() if k.startswith("[")), strict=True))


@pytest.mark.parametrize(
    "extra_env, expected",
    [({}, str(TOP / ".lab")), ({"ZMQOS_LAB_STATE_DIR": "/srv/lab-state"}, "/srv/lab-state")],
    ids=["default", "ZMQOS_LAB_STATE_DIR"],
)
def test_every_lab_state_path_is_under_lab_state_dir(extra_env, expected):
    resolved = _resolved(extra_env)
    assert resolved["lab_state_dir"] == expected
    outside = {k: v for k, v in resolved.items() if not v.startswith(expected + "/")}
    outside.pop("lab_state_dir")
    assert outside == {}, f"lab paths outside lab_state_dir {expected}: {outside}"


def test_no_lab_state_relative_to_a_playbook():
    files = [
        TOP / "playbooks" / "lab.yml",
        TOP / "playbooks" / "lab_rollback.yml",
        *sorted((TOP / "inventories" / "aio").rglob("*.yml")),
    ]
    offenders = [str(f.relative_to(TOP)) for f in files if "playbook_dir" in f.read_text()]
    assert offenders == [], f"lab state derived from playbook_dir in {offenders}"
