"""The lab cloud after converge and the smoke play: services, logs, report, restarts."""

import fnmatch
import json
import os
import re
import time

import pytest
import testinfra

CONTAINER = os.environ.get("ZMQOS_LAB_CONTAINER", "zmqos-molecule-aio1")
REPORT = os.environ.get("ZMQOS_SMOKE_REPORT", "")
TEMPEST_REPORT = os.environ.get("ZMQOS_TEMPEST_REPORT", "")
VENV = "/opt/lab/venv"
LOG_DIR = "/var/log/lab"

LAB_UNITS = [
    "mariadb",
    "zmq-proxy@main",
    "keystone-api",
    "placement-api",
    "glance-api",
    "swift-account",
    "swift-container",
    "swift-object",
    "swift-proxy",
    "nova-api",
    "nova-conductor",
    "nova-scheduler",
    "nova-compute",
    "neutron-api",
    "cinder-api",
    "cinder-scheduler",
    "cinder-volume",
]
MESSAGING_SERVICES = ("keystone", "glance", "nova", "neutron", "cinder")
MESSAGING_UNITS = [u for u in LAB_UNITS if u.split("-")[0] in MESSAGING_SERVICES]
SMOKE_STEPS = [
    "identity",
    "image",
    "image_readback",
    "flavor",
    "network",
    "server_boot",
    "server_reboot",
    "objects_upload",
    "objects_readback",
    "volume_create",
    "volume_from_image",
    "volume_attach",
    "volume_detach",
    "volume_delete",
    "server_delete",
    "cleanup",
]
# Steps of projects on the message bus: each must have required targets (roles/smoke defaults).
BUS_STEPS = ["identity", "image", "network", "server_boot", "server_reboot"] + [
    s for s in SMOKE_STEPS if s.startswith("volume_")
]
# side_effect.yml leaves these before the smoke play: an aborted run's (old) and another
# runner's (started now) image.
STALE_IMAGE = "zmqos-smoke-20200101T000000Z-stale0-image"
FOREIGN_IMAGE_PREFIX = "zmqos-smoke-"
FOREIGN_IMAGE_SUFFIX = "-other0-image"
# nova-compute logs this upstream traceback on every start (a service version check that the
# compute service may not run against the database); it is unrelated to messaging.
ALLOWED_TRACEBACKS = [re.compile(r"No DB access allowed in nova-compute")]
MESSAGING_MARKERS = re.compile(r"oslo_messaging|MessagingTimeout|MessageDeliveryFailure|zmq", re.I)


@pytest.fixture(scope="module")
def host():
    return testinfra.get_host("podman://" + CONTAINER)


def openstack(host, *args):
    cmd = host.run(
        f"OS_CLIENT_CONFIG_FILE=/etc/openstack/clouds.yaml {VENV}/bin/openstack --os-cloud lab "
        + " ".join(args)
        + " -f json"
    )
    assert cmd.rc == 0, cmd.stderr
    return json.loads(cmd.stdout)


# oslo.log writes every line of a traceback with the record's prefix: date, time, pid, level,
# logger ("2026-11-25 17:00:39.040 21314 ERROR nova.compute.manager   File ...").
OSLO_PREFIX = re.compile(r"^(\d{4}-\d\d-\d\d \S+ \d+ [A-Z]+ \S+) ")


def tracebacks(text):
    """Each traceback in a log: the record that announces it and every line of it.

    A traceback ends where its record's prefix (oslo.log) changes, or, for a bare traceback that a
    process wrote to stdout, at the next oslo.log record.
    """
    lines = text.splitlines()
    found = []
    for i, line in enumerate(lines):
        if "Traceback (most recent call last)" not in line:
            continue
        head = OSLO_PREFIX.match(line)
        end = i + 1
        if head:
            while end < len(lines) and lines[end].startswith(head.group(1)):
                end += 1
        else:
            while end < len(lines) and (
                lines[end].startswith(" ") or not OSLO_PREFIX.match(lines[end])
            ):
                end += 1
        found.append("\n".join(lines[max(i - 1, 0) : end]))
    return found


def test_traceback_parser_reads_whole_oslo_tracebacks():
    """The log check below is only as good as this parser: it must see a traceback's last line."""
    prefix = "2026-11-25 17:00:39.040 21 ERROR nova.compute.manager"
    log = "\n".join(
        [
            f"{prefix} [-] Error: boom",
            f"{prefix} Traceback (most recent call last):",
            f'{prefix}   File "x.py", line 1, in f',
            f"{prefix} oslo_messaging.MessagingTimeout: t",
            "2026-11-25 17:00:40.000 21 INFO nova.compute.manager [-] next record",
        ]
    )
    (found,) = tracebacks(log)
    assert "MessagingTimeout" in found
    assert "next record" not in found


@pytest.mark.parametrize("unit", LAB_UNITS)
def test_unit_active(host, unit):
    assert host.service(unit).is_running, unit


@pytest.mark.parametrize("unit", MESSAGING_UNITS)
def test_service_on_zmq(host, unit):
    service = unit.split("-")[0]
    name = "glance-api" if service == "glance" else service
    conf = host.file(f"/etc/{service}/{name}.conf")
    assert re.search(r"^transport_url\s*=\s*zmq://", conf.content_string, re.M), conf.path


@pytest.mark.parametrize("unit", MESSAGING_UNITS)
def test_no_messaging_tracebacks(host, unit):
    log = host.file(f"{LOG_DIR}/{unit}.log")
    assert log.exists, log.path
    bad = [
        tb
        for tb in tracebacks(log.content_string)
        if MESSAGING_MARKERS.search(tb) and not any(p.search(tb) for p in ALLOWED_TRACEBACKS)
    ]
    first = bad[0] if bad else ""
    assert not bad, f"{log.path}: {len(bad)} messaging traceback(s), first:\n{first}"


def smoke_report():
    assert REPORT, "ZMQOS_SMOKE_REPORT is not set"
    with open(REPORT, encoding="utf-8") as f:
        return json.load(f)


def test_smoke_report_all_ok():
    report = smoke_report()
    steps = {s["name"]: s for s in report["steps"]}
    assert report["outcome"] == "OK", report
    assert list(steps) == SMOKE_STEPS
    assert all(s["outcome"] == "OK" for s in steps.values()), steps


@pytest.mark.parametrize("step", BUS_STEPS)
def test_smoke_step_routed_on_its_required_targets(step):
    """Each step names the targets it must cross, and each routed messages during the step."""
    found = {s["name"]: s for s in smoke_report()["steps"]}[step]
    assert found["required"], found
    assert found["unmet"] == [], found
    for pattern in found["required"]:
        routed = sum(
            c["routed"] for t, c in found["targets"].items() if fnmatch.fnmatchcase(t, pattern)
        )
        assert routed > 0, (pattern, found["targets"])


def test_smoke_notifications_were_consumed_not_dropped():
    """A listener takes every notification the services send: routed, nothing dropped."""
    totals = smoke_report()["totals"]
    notify = {t: c for t, c in totals.items() if t.startswith("notify/")}
    assert notify, sorted(totals)
    for target, counts in notify.items():
        assert counts["routed"] > 0, (target, counts)
        assert counts["dropped"] == 0, (target, counts)


def test_smoke_removed_an_aborted_runs_leftovers_only(host):
    names = [i["Name"] for i in openstack(host, "image list")]
    assert STALE_IMAGE not in names
    foreign = [
        n for n in names if n.startswith(FOREIGN_IMAGE_PREFIX) and n.endswith(FOREIGN_IMAGE_SUFFIX)
    ]
    assert len(foreign) == 1, names
    removed = smoke_report()["stale_removed"]
    assert STALE_IMAGE in removed["images"], removed


def test_smoke_left_nothing_of_its_run_behind(host):
    run = smoke_report()["run"]
    for kind in (
        "server",
        "volume",
        "image",
        "container",
        "network",
        "port",
        "flavor",
        "project",
        "user",
    ):
        listed = openstack(host, f"{kind} list")
        assert not [r for r in listed if r["Name"].startswith(run)], (kind, listed)


def proxy_metrics(host):
    return json.loads(
        host.check_output(
            "python3 -c 'import urllib.request; "
            'print(urllib.request.urlopen("http://127.0.0.1:9502/metrics").read().decode())\''
        )
    )


def test_proxy_sees_the_services(host):
    metrics = proxy_metrics(host)
    listeners = {label: t["listeners"] for label, t in metrics["targets"].items()}
    for label in (
        "rpc/nova/conductor",
        "rpc/nova/scheduler",
        "rpc/nova/compute",
        "rpc/openstack/cinder-scheduler",
    ):
        assert listeners.get(label, 0) >= 1, (label, sorted(listeners))
    assert metrics["counters"]["malformed"] == 0
    assert metrics["counters"]["auth_denied"] == 0


def test_nova_compute_survives_a_restart(host):
    """The lab's stable fake driver keeps its node identity: a restarted nova-compute starts
    without "No local node identity found" and reports again through the conductor (an RPC over
    ZeroMQ), so its heartbeat time moves past the restart."""
    log_path = LOG_DIR + "/nova-compute.log"
    offset = int(host.check_output("stat -c %%s %s", log_path))
    restarted = host.check_output("date -u +%%Y-%%m-%%dT%%H:%%M:%%S")
    host.check_output("systemctl restart nova-compute")
    deadline = time.monotonic() + 180
    state = []
    while time.monotonic() < deadline:
        time.sleep(5)
        state = openstack(host, "compute service list --service nova-compute")
        if state and all((s["Updated At"] or "") > restarted for s in state):
            break
    new_log = host.check_output("tail -c +%s %s", str(offset + 1), log_path)
    assert "No local node identity found" not in new_log
    assert host.service("nova-compute").is_running
    fresh = [s for s in state if (s["Updated At"] or "") > restarted and s["State"] == "up"]
    assert state and fresh == state, (restarted, state)


def tempest_report():
    assert TEMPEST_REPORT, "ZMQOS_TEMPEST_REPORT is not set"
    with open(TEMPEST_REPORT, encoding="utf-8") as f:
        return json.load(f)


def test_tempest_smoke_green():
    report = tempest_report()
    assert report["tests"] == "smoke"
    assert report["rc"] == 0, report["failed"]
    assert report["counts"]["failed"] == 0, report["failed"]
    assert report["counts"]["passed"] >= 60, report["counts"]


def test_tempest_skips_come_from_feature_flags_with_reasons():
    """Every skip has tempest's own reason, and every narrowing flag of tempest.conf says why."""
    report = tempest_report()
    assert all(s["reason"] for s in report["skipped"]), report["skipped"]
    assert report["flags"], "tempest.conf narrowed nothing: was it generated?"
    assert all(f["reason"] for f in report["flags"]), report["flags"]
