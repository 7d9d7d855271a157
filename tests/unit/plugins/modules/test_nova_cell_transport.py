# Copyright: contributors to the zeromq.openstack collection
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""zeromq.openstack.nova_cell_transport: the table reader, the masking, the plan, and the
module against a stand-in nova-manage (fakes/nova_manage.py) and against real nova 31 with
SQLite databases. Real nova is ZMQOS_NOVA_MANAGE when set (a nova-manage of nova 31 whose venv
also has this driver), else a venv that the first run builds from PyPI (about a minute) and
keeps in ${XDG_CACHE_HOME:-~/.cache}/zeromq-openstack/nova31-venv for the next runs."""

from __future__ import annotations

import fcntl
import importlib.util
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import pytest
from ansible_collections.zeromq.openstack.plugins.module_utils import nova_cells
from ansible_collections.zeromq.openstack.plugins.modules import nova_cell_transport

CELL1 = "dc3b2671-a668-44f7-ad8b-03dc594778b7"
CELL2 = "5f0c8c7e-1b7e-4d7e-9c43-3f1f0f6c2a10"
ZMQ = "zmq://ctl1:9501,ctl2:9501/"
SECRET = "p@ss/w:rd%41$x"
ENCODED = "p%40ss%2Fw%3Ard%2541%24x"
RABBIT = f"rabbit://nova:{ENCODED}@ctl1:5672,nova:{ENCODED}@ctl2:5672/nova"

# What nova-manage 31.0.0 printed for `cell_v2 list_cells --verbose` (run on SQLite).
NOVA31_TABLE = """\
+-------+--------------------------------------+-----------------------------------+-------------------------------+----------+
|  Name |                 UUID                 |           Transport URL           |      Database Connection      | Disabled |
+-------+--------------------------------------+-----------------------------------+-------------------------------+----------+
| cell0 | 00000000-0000-0000-0000-000000000000 |              none:///             | sqlite:////tmp/rd/nm/cell0.db |  False   |
| cell1 | dc3b2671-a668-44f7-ad8b-03dc594778b7 | rabbit://openstack:old@ctl1:5672/ | sqlite:////tmp/rd/nm/cell1.db |  False   |
+-------+--------------------------------------+-----------------------------------+-------------------------------+----------+
"""  # noqa: E501


# --- the table -------------------------------------------------------------------------------


def test_reads_nova_31s_table():
    cells = nova_cells.parse_cells(NOVA31_TABLE)
    assert [c["name"] for c in cells] == ["cell0", "cell1"]
    assert cells[1] == {
        "name": "cell1",
        "uuid": CELL1,
        "transport_url": "rabbit://openstack:old@ctl1:5672/",
        "database_connection": "sqlite:////tmp/rd/nm/cell1.db",
        "disabled": False,
    }


def test_a_bar_in_a_password_does_not_shift_the_columns():
    text = NOVA31_TABLE.replace("openstack:old@", "openstack:o|d@")
    assert nova_cells.parse_cells(text)[1]["transport_url"] == "rabbit://openstack:o|d@ctl1:5672/"


@pytest.mark.parametrize(
    "text",
    ["", "Cell0 is already setup\n", NOVA31_TABLE.replace(CELL1, "not-a-uuid-" + "0" * 25)],
)
def test_unreadable_output_is_an_error(text):
    with pytest.raises(nova_cells.CellError):
        nova_cells.parse_cells(text)


# --- passwords ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        (ZMQ, ZMQ),
        ("none:///", "none:///"),
        (RABBIT, "rabbit://nova:****@ctl1:5672,nova:****@ctl2:5672/nova"),
        ("rabbit://guest@h:5672/", "rabbit://guest@h:5672/"),
        (
            "mysql+pymysql://nova:pw@db/nova?charset=utf8",
            "mysql+pymysql://nova:****@db/nova?charset=utf8",
        ),
        # Not percent-encoded: a '/' and a ',' in the password still end up masked.
        ("rabbit://u:pa/ss@h:5672/", "rabbit://u:****@h:5672/"),
        ("rabbit://u:a,b@h1:5672/", "rabbit://****@h1:5672/"),
        ("rabbit://u:p@[fd00::1]:5672//nova", "rabbit://u:****@[fd00::1]:5672//nova"),
    ],
)
def test_masking(url, masked):
    assert nova_cells.mask_url(url) == masked
    for secret in nova_cells.url_secrets(url):
        assert secret not in nova_cells.mask_url(url)


def test_secrets_include_the_decoded_password():
    assert nova_cells.url_secrets(RABBIT) == {ENCODED, SECRET}
    assert nova_cells.url_secrets(ZMQ) == set()


def test_ini_value_escapes_oslo_config_substitution():
    assert nova_cells.ini_value("rabbit://u:a$b@h/") == "rabbit://u:a$$b@h/"
    with pytest.raises(nova_cells.CellError):
        nova_cells.ini_value("zmq://a:1/\n[DEFAULT]")


# --- the plan -------------------------------------------------------------------------------


def _cells(*extra):
    cells = nova_cells.parse_cells(NOVA31_TABLE)
    return cells + [dict(cells[1], name=n, uuid=u, transport_url=t) for n, u, t in extra]


def test_plan_leaves_cell0_alone_and_marks_the_change():
    chosen = nova_cells.plan(_cells(), None, ZMQ)
    assert [(c["name"], c["change"]) for c in chosen] == [("cell1", True)]
    chosen = nova_cells.plan(_cells(), None, "rabbit://openstack:old@ctl1:5672/")
    assert [(c["name"], c["change"]) for c in chosen] == [("cell1", False)]


def test_plan_refuses_one_url_for_two_cells():
    with pytest.raises(nova_cells.CellError, match="cells cell1, cell2 would share"):
        nova_cells.plan(_cells(("cell2", CELL2, "rabbit://a:b@c/")), None, ZMQ)
    chosen = nova_cells.plan(_cells(("cell2", CELL2, "rabbit://a:b@c/")), [CELL2], ZMQ)
    assert [c["name"] for c in chosen] == ["cell2"]


@pytest.mark.parametrize(("wanted", "error"), [(["cell9"], "cell9"), (["cell0"], "cell0 has no")])
def test_plan_names_a_bad_cell(wanted, error):
    with pytest.raises(nova_cells.CellError, match=error):
        nova_cells.plan(_cells(), wanted, ZMQ)


# --- the module against the stand-in --------------------------------------------------------


@pytest.fixture
def fake_nova(tmp_path):
    """A nova-manage stand-in with cell0 and cell1 (on RabbitMQ); returns (args, state)."""
    state = tmp_path / "state.json"
    cells = [
        dict(
            name=c["name"],
            uuid=c["uuid"],
            database_connection=c["database_connection"],
            disabled=False,
            transport_url=c["transport_url"],
        )
        for c in nova_cells.parse_cells(NOVA31_TABLE)
    ]
    cells[1]["transport_url"] = RABBIT
    cells[1]["database_connection"] = "mysql+pymysql://nova:dbsecret@db/nova"
    state.write_text(json.dumps({"cells": cells, "calls": []}))
    script = tmp_path / "nova-manage"
    source = (Path(__file__).parent / "fakes" / "nova_manage.py").read_text()
    script.write_text(f"#!{sys.executable}\n" + source.replace("@STATE@", str(state)))
    script.chmod(0o755)
    conf = tmp_path / "nova.conf"
    conf.write_text("[DEFAULT]\n")
    args = {"transport_url": ZMQ, "config_files": [str(conf)], "nova_manage": str(script)}

    def read() -> dict:
        return json.loads(state.read_text())

    return args, read, state


def _no_secret_in(result: dict) -> None:
    text = json.dumps(result)
    for secret in (SECRET, ENCODED, "dbsecret"):
        assert secret not in text, f"{secret} leaked: {text}"


def test_switches_cell1_to_zmq_and_then_changes_nothing(run_module, fake_nova):
    args, read = fake_nova[:2]
    result = run_module(nova_cell_transport, args, diff=True)
    assert result["changed"] is True, result
    assert result["cells"] == [
        {
            "name": "cell1",
            "uuid": CELL1,
            "transport_url": ZMQ,
            "changed": True,
            "previous_transport_url": "rabbit://nova:****@ctl1:5672,nova:****@ctl2:5672/nova",
        }
    ]
    assert "rabbit://nova:****@ctl1" in result["diff"]["before"]
    assert ZMQ in result["diff"]["after"]
    _no_secret_in(result)
    state = read()
    assert state["cells"][1]["transport_url"] == ZMQ
    assert state["cells"][0]["transport_url"] == "none:///"
    update = [c for c in state["calls"] if c["args"][1] == "update_cell"]
    assert len(update) == 1
    # The URL went through a config file, not the command line, and the DB URL was blanked.
    assert ZMQ not in " ".join(update[0]["args"])
    assert update[0]["database_connection"] == ""
    assert not os.path.exists(update[0]["configs"][-1]), "the extra config file was left behind"

    again = run_module(nova_cell_transport, args)
    assert again["changed"] is False, again
    assert len([c for c in read()["calls"] if c["args"][1] == "update_cell"]) == 1


def test_check_mode_reports_and_changes_nothing(run_module, fake_nova):
    args, read = fake_nova[:2]
    result = run_module(nova_cell_transport, args, check_mode=True, diff=True)
    assert result["changed"] is True
    assert result["cells"][0]["changed"] is True
    assert read()["cells"][1]["transport_url"] == RABBIT
    assert not [c for c in read()["calls"] if c["args"][1] == "update_cell"]
    _no_secret_in(result)


def test_rollback_url_with_special_characters_is_stored_exactly(run_module, fake_nova):
    args, read = fake_nova[:2]
    run_module(nova_cell_transport, args)
    back = dict(args, transport_url=RABBIT)
    result = run_module(nova_cell_transport, back, diff=True)
    assert result["changed"] is True
    assert read()["cells"][1]["transport_url"] == RABBIT
    assert result["transport_url"] == "rabbit://nova:****@ctl1:5672,nova:****@ctl2:5672/nova"
    _no_secret_in(result)


def test_a_failing_update_names_the_cell_and_hides_passwords(run_module, fake_nova):
    args, read, state = fake_nova
    data = read()
    data["cells"].append(dict(data["cells"][1], name="cell2", uuid=CELL2, transport_url=ZMQ))
    state.write_text(json.dumps(data))
    result = run_module(nova_cell_transport, dict(args, cells=["cell1"]))
    assert result["failed"] is True
    assert CELL1 in result["msg"] and "another cell already has" in result["msg"]
    _no_secret_in(result)


def test_missing_config_file_fails_clearly(run_module, fake_nova, tmp_path):
    args = fake_nova[0]
    result = run_module(nova_cell_transport, dict(args, config_files=[str(tmp_path / "no.conf")]))
    assert result["failed"] is True
    assert "no.conf does not exist" in result["msg"]


# --- real nova 31 ----------------------------------------------------------------------------

# The newest nova 31 (2025.1, Debian 13's line). Its dependencies are not pinned one by one:
# their newest releases run nova-manage 31, and the upload cut-off keeps every fresh build (a
# new machine, CI) resolving the same set as the one that passed here.
NOVA = "nova==31.3.1"
PYPI_CUTOFF = "2026-12-04T00:00:00Z"
DRIVER = Path(__file__).resolve().parents[4] / "driver"
NOVA_VENV = (
    Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    / "zeromq-openstack"
    / "nova31-venv"
)


def _build_step(what: str, argv: list[str], timeout: int) -> None:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.fail(f"nova 31 for the real-nova tests: {what}: {exc}", pytrace=False)
    if proc.returncode != 0:
        pytest.fail(
            f"nova 31 for the real-nova tests: {what} failed (exit code {proc.returncode}):\n"
            + proc.stderr[-4000:],
            pytrace=False,
        )


def _uv() -> list[str]:
    if found := shutil.which("uv"):
        return [found]
    if importlib.util.find_spec("uv"):
        return [sys.executable, "-m", "uv"]
    pytest.fail("the real-nova tests build nova 31 with uv (requirements-dev.txt): not found")


def _nova_requirements() -> list[str]:
    with open(DRIVER / "pyproject.toml", "rb") as handle:
        return [NOVA, *tomllib.load(handle)["project"]["dependencies"]]


def _build_nova_venv(work: Path, requirements: list[str]) -> Path:
    venv = work / "venv"
    uv = _uv()
    # Relocatable: built here, then renamed into the cache.
    _build_step(
        "uv venv",
        uv + ["venv", "--quiet", "--relocatable", "--python", sys.executable, str(venv)],
        timeout=300,
    )
    _build_step(
        f"uv pip install {NOVA} and the driver's dependencies",
        uv
        + ["pip", "install", "--quiet", "--compile-bytecode", "--python", str(venv / "bin/python")]
        + ["--exclude-newer", PYPI_CUTOFF, *requirements],
        timeout=1200,
    )
    return venv


def _cached_nova_venv() -> Path:
    """nova 31 and the driver's dependencies, built once per key; never a half-built one."""
    requirements = _nova_requirements()
    key = json.dumps([requirements, PYPI_CUTOFF, sys.base_prefix, sys.version])
    NOVA_VENV.parent.mkdir(parents=True, exist_ok=True)
    with open(NOVA_VENV.parent / "nova31-venv.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a second test run waits for the first one's build
        stamp = NOVA_VENV / "zmqos-key.json"
        if stamp.is_file() and stamp.read_text() == key:
            return NOVA_VENV
        for interrupted in NOVA_VENV.parent.glob("nova31-build-*"):
            shutil.rmtree(interrupted, ignore_errors=True)
        work = Path(tempfile.mkdtemp(prefix="nova31-build-", dir=NOVA_VENV.parent))
        try:
            built = _build_nova_venv(work, requirements)
            (built / stamp.name).write_text(key)
            if NOVA_VENV.exists():
                NOVA_VENV.rename(work / "old")
            built.rename(NOVA_VENV)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return NOVA_VENV


def _wrapper(path: Path, site: Path, target: Path) -> None:
    path.write_text(
        f"#!/bin/sh\nexport PYTHONPATH={shlex.quote(str(site))}\n"
        f'exec {shlex.quote(str(target))} "$@"\n'
    )
    path.chmod(0o755)


@pytest.fixture(scope="session")
def nova_manage(tmp_path_factory) -> str:
    """ZMQOS_NOVA_MANAGE (nova 31 with this driver, and python beside it), else the cached venv
    with this checkout's driver beside it for this session only: a driver change rebuilds
    nothing."""
    if given := os.environ.get("ZMQOS_NOVA_MANAGE"):
        return given
    venv = _cached_nova_venv()
    here = tmp_path_factory.mktemp("nova31")
    # Built from a clean copy: a build/ left in the checkout can carry deleted modules along.
    source = shutil.copytree(
        DRIVER, here / "driver", ignore=shutil.ignore_patterns("build", "*.egg-info", ".*")
    )
    _build_step(
        "installing the driver",
        _uv()
        + ["pip", "install", "--quiet", "--no-deps", "--python", str(venv / "bin/python")]
        + ["--target", str(here / "site"), str(source)],
        timeout=300,
    )
    (here / "bin").mkdir()
    for name in ("nova-manage", "python"):
        _wrapper(here / "bin" / name, here / "site", venv / "bin" / name)
    return str(here / "bin" / "nova-manage")


def _nova_setup(nova_manage: str, tmp_path: Path, default_url: str) -> list[str]:
    conf = tmp_path / "nova.conf"
    conf.write_text(
        f"[DEFAULT]\ntransport_url = {default_url}\nstate_path = {tmp_path}\n"
        f"log_file = {tmp_path}/nova-manage.log\n"
        f"[api_database]\nconnection = sqlite:///{tmp_path}/api.db\n"
        f"[database]\nconnection = sqlite:///{tmp_path}/cell1.db\n"
        "[oslo_messaging_zmq]\nsecurity_mode = plain\n"
    )
    base = [nova_manage, "--config-file", str(conf)]
    for args in (
        ["api_db", "sync"],
        ["cell_v2", "map_cell0", "--database_connection", f"sqlite:///{tmp_path}/cell0.db"],
        ["cell_v2", "create_cell", "--name", "cell1"],
    ):
        subprocess.run(base + args, check=True, capture_output=True, timeout=300)
    return base


def test_real_nova_switches_and_keeps_the_cells_database(run_module, nova_manage, tmp_path):
    base = _nova_setup(nova_manage, tmp_path, RABBIT)
    args = {"transport_url": ZMQ, "config_files": [base[2]], "nova_manage": nova_manage}
    result = run_module(nova_cell_transport, args, diff=True)
    assert result["changed"] is True, result
    _no_secret_in(result)
    listed = subprocess.run(
        base + ["cell_v2", "list_cells", "--verbose"], capture_output=True, text=True, check=True
    )
    cells = {c["name"]: c for c in nova_cells.parse_cells(listed.stdout)}
    assert cells["cell1"]["transport_url"] == ZMQ
    assert cells["cell1"]["database_connection"] == f"sqlite:///{tmp_path}/cell1.db"
    assert cells["cell0"]["transport_url"] == "none:///"
    assert run_module(nova_cell_transport, args)["changed"] is False
    back = run_module(nova_cell_transport, dict(args, transport_url=RABBIT))
    assert back["changed"] is True
    _no_secret_in(back)


FORMAT_PROBE = r"""
import json, logging, sys
from nova import config, objects
from nova.objects.cell_mapping import CellMapping
from oslo_messaging import opts
logging.basicConfig(level=logging.ERROR)
for group, options in opts.list_opts():
    if group is None:  # [DEFAULT], with transport_url
        config.CONF.register_opts(options)
config.CONF([], project="nova", default_config_files=[])
objects.register_all()
out = {}
for default, url in json.loads(sys.argv[1]):
    config.CONF.set_override("transport_url", default)
    out[default + " | " + url] = CellMapping.format_mq_url(url)
print(json.dumps(out))
"""


def test_real_nova_uses_a_literal_multi_proxy_url_but_not_a_template(nova_manage):
    """nova 31's CellMapping.format_mq_url with the service's own transport_url as default."""
    python = str(Path(nova_manage).parent / "python")
    template = "{scheme}://{hostname}:{port}/{path}"
    cases = [(ZMQ, ZMQ), (ZMQ, template), ("zmq://ctl1:9501/", template), (RABBIT, ZMQ)]
    proc = subprocess.run(
        [python, "-c", FORMAT_PROBE, json.dumps(cases)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    # A literal URL comes back as it is, whatever the default.
    assert got[f"{ZMQ} | {ZMQ}"] == ZMQ
    assert got[f"{RABBIT} | {ZMQ}"] == ZMQ
    # A template against one proxy is filled in...
    assert got[f"zmq://ctl1:9501/ | {template}"] == "zmq://ctl1:9501/"
    # ...against two it stays a template (urlparse(...).port raised) and nova logged an error.
    assert got[f"{ZMQ} | {template}"] == template
    assert "Failed to parse [DEFAULT]/transport_url to format cell mapping" in proc.stderr
    assert "Port could not be cast to integer value" in proc.stderr


def test_the_port_error_nova_hits_comes_from_urllib():
    """Without nova at hand: the call nova's _format_url makes fails for two proxies."""
    from urllib.parse import urlparse

    assert urlparse("zmq://ctl1:9501/").port == 9501
    with pytest.raises(ValueError, match="Port could not be cast"):
        urlparse(ZMQ).port  # noqa: B018
    # With credentials (rabbit://u:p@h1:5672,u:p@h2:5672/) the last host is what it reads.
    assert urlparse("rabbit://u:p@h1:5672,u:p@h2:5672/").port == 5672
