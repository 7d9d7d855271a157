# Copyright: contributors to the zeromq.openstack collection
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""zeromq.openstack.zmq_driver_check: the judgement (module_utils/driver_env) and the module,
run with this interpreter (which has oslo.messaging, pyzmq and the driver) and with stand-in
interpreters that describe other environments (Debian 13's, an old one, a broken one)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from ansible_collections.zeromq.openstack.plugins.lookup import source_tree
from ansible_collections.zeromq.openstack.plugins.module_utils import driver_digest, driver_env
from ansible_collections.zeromq.openstack.plugins.modules import zmq_driver_check

FLOORS = {"python": "3.11", "oslo.messaging": "16.1", "pyzmq": "25"}
DEBIAN13 = {
    "python_version": "3.13.5",
    "packages": {"oslo.messaging": "16.1.0", "pyzmq": "26.4.0"},
    "libzmq_version": "4.3.5",
    "driver_version": "0.1.0",
    "driver_import_error": None,
    "entry_point": "oslo_messaging_zmq.driver:ZmqDriver",
    "entry_point_error": None,
}


@pytest.mark.parametrize(
    ("found", "floor", "ok"),
    [
        ("16.1.0", "16.1", True),
        ("16.0.9", "16.1", False),
        ("18.3.1", "16.1", True),
        ("26.4.0rc1", "25", True),
        ("3.11.2", "3.11", True),
        ("3.9.18", "3.11", False),
        (None, "1", False),
        ("dev", "1", False),
    ],
)
def test_at_least(found, floor, ok):
    assert driver_env.at_least(found, floor) is ok


def test_debian_13_fits_before_and_after():
    assert driver_env.problems(DEBIAN13, FLOORS, require_driver=False) == []
    assert driver_env.problems(DEBIAN13, FLOORS, require_driver=True) == []


def test_old_python_and_oslo_messaging_are_named():
    facts = dict(DEBIAN13, python_version="3.9.2", packages={"oslo.messaging": "12.7.1"})
    found = driver_env.problems(facts, FLOORS, require_driver=False)
    assert found == [
        "Python 3.9.2 is older than the driver's floor 3.11",
        "oslo.messaging 12.7.1 is older than the driver's floor 16.1",
    ]


def test_pyzmq_may_be_missing_only_before_the_install():
    facts = dict(DEBIAN13, packages={"oslo.messaging": "16.1.0", "pyzmq": None})
    assert driver_env.problems(facts, FLOORS, require_driver=False) == []
    assert "pyzmq is not importable" in driver_env.problems(facts, FLOORS, require_driver=True)


def test_a_driver_that_does_not_load_is_named():
    facts = dict(
        DEBIAN13,
        driver_import_error="ModuleNotFoundError: No module named 'msgpack'",
        entry_point=None,
        entry_point_error="NoMatches: No 'oslo.messaging.drivers' driver found, looking for 'zmq'",
    )
    found = driver_env.problems(facts, FLOORS, require_driver=True)
    assert (
        "import oslo_messaging_zmq fails: ModuleNotFoundError: No module named 'msgpack'" in found
    )
    assert any(
        "entry point oslo.messaging.drivers: zmq does not resolve: NoMatches" in p for p in found
    )


def stand_in(tmp_path, facts: dict | None, name: str = "python3") -> str:
    """An 'interpreter' that answers the helper with FACTS (or with nothing)."""
    path = tmp_path / name
    answer = f"echo '{json.dumps(facts)}'" if facts is not None else "echo oops; exit 3"
    path.write_text(f"#!/bin/sh\ncat >/dev/null\n{answer}\n")
    path.chmod(0o755)
    return str(path)


def test_module_with_this_interpreter_finds_the_driver(run_module):
    pytest.importorskip("oslo_messaging_zmq")
    result = run_module(
        zmq_driver_check,
        {"python": sys.executable, "service": "test", "floors": FLOORS, "require_driver": True},
    )
    assert result["problems"] == [], result
    assert result["entry_point"] == "oslo_messaging_zmq.driver:ZmqDriver"
    assert result["packages"]["oslo.messaging"]
    assert result["changed"] is False


def test_module_fails_naming_the_service_and_the_problem(run_module, tmp_path):
    python = stand_in(tmp_path, dict(DEBIAN13, packages={"oslo.messaging": "14.9.0"}))
    result = run_module(zmq_driver_check, {"python": python, "service": "nova", "floors": FLOORS})
    assert result["failed"] is True
    assert result["msg"] == (
        f"nova ({python}), before install: oslo.messaging 14.9.0 is older than the driver's "
        "floor 16.1"
    )


def test_module_reports_without_failing_when_asked(run_module, tmp_path):
    python = stand_in(tmp_path, dict(DEBIAN13, python_version="3.10.12"))
    args = {"python": python, "floors": FLOORS, "fail_on_problem": False}
    result = run_module(zmq_driver_check, args, check_mode=True)
    assert "failed" not in result or not result["failed"]
    assert result["problems"] == ["Python 3.10.12 is older than the driver's floor 3.11"]


@pytest.mark.parametrize("kind", ["missing", "silent"])
def test_module_fails_on_an_unusable_interpreter(run_module, tmp_path, kind):
    python = str(tmp_path / "nope") if kind == "missing" else stand_in(tmp_path, None)
    result = run_module(zmq_driver_check, {"python": python, "service": "cinder"})
    assert result["failed"] is True
    assert result["msg"].startswith("cinder: ")


def _installed_digest(site: Path) -> str | None:
    """driver_digest as the module's helper computes it in an interpreter that imports SITE."""
    env = dict(os.environ, PYTHONPATH=str(site))
    out = subprocess.run(
        [sys.executable, "-c", zmq_driver_check.HELPER],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        cwd=site,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])["driver_digest"]


@pytest.mark.parametrize("changed", ["__init__.py", "_core.c"])
def test_installed_and_source_digests_agree_and_follow_the_code(tmp_path, changed):
    top = Path(__file__).resolve().parents[4]
    driver = top / "driver"
    # the files the roles ship (roles/common), as the source_tree lookup reads them
    patterns = yaml.safe_load((top / "roles/common/vars/main.yml").read_text())
    source = source_tree.read_tree(str(driver), patterns["_common_driver_patterns"])
    assert "oslo_messaging_zmq/_core.c" in source
    # what pip installs: the modules and the core's source (package data), not its build
    shutil.copytree(
        driver / "oslo_messaging_zmq",
        tmp_path / "oslo_messaging_zmq",
        ignore=shutil.ignore_patterns("*.so", "__pycache__"),
    )
    shipped = driver_digest.source_digest(source)
    assert _installed_digest(tmp_path) == shipped
    (tmp_path / "oslo_messaging_zmq" / changed).write_text("/* another release */\n")
    assert _installed_digest(tmp_path) != shipped


def test_digest_ignores_what_is_not_a_module_of_the_package():
    modules = {"oslo_messaging_zmq/a.py": "x = 1\n"}
    extra = dict(modules, **{"pyproject.toml": "[project]\n", "oslo_messaging_zmq/t/b.py": ""})
    assert driver_digest.source_digest(extra) == driver_digest.source_digest(modules)
    with pytest.raises(ValueError, match="no oslo_messaging_zmq/"):
        driver_digest.source_digest({"pyproject.toml": ""})
