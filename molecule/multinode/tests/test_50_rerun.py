"""A later run of zeromq.openstack.site, as operators make one on a running cloud.

Since the converge: a key the proxies accept belongs to a host that left the inventory, another
to a service zmq-svc1 no longer has; zmq-svc1's environment holds driver code that differs from
the source (as when a proxy on the same host refreshed the shared source directory first); and
the run keeps restarts to the operator (``oslo_messaging_zmq_restart=false``) while it moves the
services to another proxy port. The run must take both keys back (the proxies refuse them), put
the source's code into the environment, restart nothing and probe nothing it did not restart.
A second run with the inventory's values puts the config back; the services never stopped.
"""

from __future__ import annotations

import subprocess

import pytest
from conftest import INVENTORY, PROXIES, RPC_TOPIC, SERVICE_CONF, SERVICE_PYTHON, token, wait_for

RETIRED_DIR = "/tmp/zmqos-retired"
ALLOWED_DIR = "/etc/zmq-proxy/allowed_clients"
KEYGEN = "/opt/testsvc/venv/bin/oslo-messaging-zmq-keygen"
STALE_KEYS = ("retired-host-testsvc.key", "zmq-svc1-retired.key")
OTHER_PORT = "9599"
DRIVER_INIT = "import os, oslo_messaging_zmq as m; print(os.path.dirname(m.__file__))"
PLAY_TIMEOUT = 900


def run_site(*extra_vars: str) -> subprocess.CompletedProcess:
    argv = ["ansible-playbook", "--inventory", INVENTORY, "zeromq.openstack.site"]
    for assignment in extra_vars:
        argv += ["--extra-vars", assignment]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=PLAY_TIMEOUT, check=False)
    assert done.returncode == 0, f"{' '.join(argv)} failed:\n{done.stdout[-6000:]}\n{done.stderr}"
    return done


def main_pid(node) -> str:
    return node.check_output("systemctl show --property MainPID --value testsvc.service")


def retired_call(node, conf: str) -> dict:
    return node.ping(
        config_files=[conf], kind="call", topic=RPC_TOPIC, server="zmq-svc2", timeout=5,
        method="echo", args={"value": token("retired")},
    )  # fmt: skip


@pytest.fixture(scope="module")
def rerun(ready):
    svc1 = ready["zmq-svc1"]
    conf = f"{RETIRED_DIR}/testsvc.conf"
    secret = f"{RETIRED_DIR}/retired.key_secret"
    svc1.check_output("rm -rf %s", RETIRED_DIR)
    svc1.check_output("%s --out-dir %s --name retired", KEYGEN, RETIRED_DIR)
    svc1.check_output(
        "sed %s %s > %s", f"s#^client_secret_key_file *=.*#client_secret_key_file = {secret}#",
        SERVICE_CONF, conf,
    )  # fmt: skip
    public = svc1.check_output("cat %s/retired.key", RETIRED_DIR)
    for name in PROXIES:
        for key in STALE_KEYS:
            ready[name].check_output("printf '%%s\\n' %s > %s/%s", public, ALLOWED_DIR, key)
    accepted = wait_for(
        "the proxies accept the planted key", lambda: retired_call(svc1, conf)["ok"], 30
    )

    package = svc1.check_output("%s -c %s", SERVICE_PYTHON, DRIVER_INIT)
    svc1.check_output("echo '# not the shipped code' >> %s/__init__.py", package)
    pids = {name: main_pid(ready[name]) for name in ("zmq-svc1", "zmq-svc2")}

    # key=value, as operators type it: the role must read the string "false" as false.
    first = run_site(
        "oslo_messaging_zmq_restart=false", f"oslo_messaging_zmq_proxy_port={OTHER_PORT}"
    )
    after_first = {
        "stale": {
            n: ready[n].run("ls %s/%s", ALLOWED_DIR, " ".join(STALE_KEYS)).stdout for n in PROXIES
        },
        "retired_call": retired_call(svc1, conf),
        "tampered": svc1.run(
            "grep -c 'not the shipped code' %s/__init__.py", package
        ).stdout.strip(),
        "url": svc1.ini(SERVICE_CONF).get("DEFAULT", "transport_url"),
        "pids": {name: main_pid(ready[name]) for name in pids},
    }
    second = run_site("oslo_messaging_zmq_restart=false")
    yield {
        "accepted": accepted,
        "pids": pids,
        "first": first,
        "after_first": after_first,
        "second": second,
        "url_after_second": svc1.ini(SERVICE_CONF).get("DEFAULT", "transport_url"),
    }
    svc1.run("rm -rf %s", RETIRED_DIR)


def test_keys_of_a_gone_host_and_a_gone_service_are_taken_back(rerun):
    assert rerun["accepted"]
    for name, listing in rerun["after_first"]["stale"].items():
        assert listing.strip() == "", f"{name} still has {listing.split()}"
    refused = rerun["after_first"]["retired_call"]
    assert not refused["ok"] and refused["error"], refused


def test_an_environment_with_other_code_gets_the_source(rerun):
    assert rerun["after_first"]["tampered"] == "0"


def test_without_restarts_nothing_restarts_and_nothing_stale_is_probed(rerun):
    out = rerun["first"].stdout
    assert f":{OTHER_PORT}" in rerun["after_first"]["url"], rerun["after_first"]["url"]
    assert rerun["after_first"]["pids"] == rerun["pids"]
    assert "oslo_messaging_zmq_restart is off: testsvc changed" in out, out[-3000:]
    # The probe task ran and called nothing (its loop label is "<service> -> <topic>").
    assert "Probe each service over its own transport" in out
    assert "testsvc -> testsvc" not in out


def test_the_inventory_run_restores_the_config_and_the_services_kept_running(rerun, ready):
    assert f":{OTHER_PORT}" not in rerun["url_after_second"]
    assert {name: main_pid(ready[name]) for name in rerun["pids"]} == rerun["pids"]
    value = token("after-rerun")
    answer = ready["zmq-svc1"].call("zmq-svc2", "echo", value=value)
    assert answer["ok"], answer
    assert answer["result"] == {"value": value, "host": "zmq-svc2"}
