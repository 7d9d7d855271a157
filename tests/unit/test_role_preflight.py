"""Bad role input fails in preflight with a message that names the variable.

Each case runs the real role with ansible-playbook against localhost in check mode (so even a
preflight bug could not change this machine) and asserts on the failure message.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

TOP = Path(__file__).resolve().parents[2]

CASES = [
    # (role, bad variables, text the failure must contain)
    ("libzmq", {"libzmq_python_env": "virtualenv"}, "libzmq_python_env"),
    (
        "libzmq",
        {"libzmq_python_env": "venv", "libzmq_venv_path": "relative/venv"},
        "libzmq_venv_path",
    ),
    ("libzmq", {"libzmq_pyzmq_verison": "27.3.0"}, "libzmq_pyzmq_verison"),
    ("libzmq", {"libzmq_min_version": "four"}, "libzmq_min_version"),
    ("libzmq", {"libzmq_extra_packages": "libzmq3-dev"}, "libzmq_extra_packages"),
]


def _run_role(role: str, variables: dict, tmp_path: Path) -> subprocess.CompletedProcess:
    playbook = tmp_path / "play.yml"
    playbook.write_text(
        f"- hosts: localhost\n  gather_facts: true\n  roles:\n    - zeromq.openstack.{role}\n"
    )
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(TOP / ".collections"), ANSIBLE_NOCOLOR="1")
    return subprocess.run(
        [
            "ansible-playbook",
            "-i",
            "localhost,",
            "-c",
            "local",
            "--check",
            "-e",
            f"ansible_python_interpreter={sys.executable}",
            "-e",
            json.dumps(variables),
            str(playbook),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


@pytest.mark.parametrize(("role", "variables", "named"), CASES, ids=[c[2] for c in CASES])
def test_bad_input_fails_naming_the_variable(role, variables, named, tmp_path):
    result = _run_role(role, variables, tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert named in output, output
    # Nothing past preflight ran: no install task was reached.
    assert "Install |" not in output, output
