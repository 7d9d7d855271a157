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
    "neutron-rpc-server",
    "neutron-periodic-workers",
    "neutron-openvswitch-agent",
    "cinder-api",
    "cinder-scheduler",
    "cinder-volume",
    "lab-notifications",
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


OPENSTACK = f"OS_CLIENT_CONFIG_FILE=/etc/openstack/clouds.yaml {VENV}/bin/openstack --os-cloud lab"


def openstack(host, *args, output=True):
    cmd = host.run(f"{OPENSTACK} " + " ".join(args) + (" -f json" if output else ""))
    assert cmd.rc == 0, cmd.stderr
    return json.loads(cmd.stdout) if output else None


def wait_for(probe, timeout, interval=2.0):
    """Call probe() until it returns something true or timeout seconds passed; its last value."""
    deadline = time.monotonic() + timeout
    value = probe()
    while not value and time.monotonic() < deadline:
        time.sleep(interval)
        value = probe()
    return value


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


def read_report(path, variable):
    """A play's JSON report, at the path the scenario's environment variable names."""
    assert path, f"{variable} is not set"
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def smoke_report():
    return read_report(REPORT, "ZMQOS_SMOKE_REPORT")


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
    # Targets a listener registered for but no service sent to (other priorities) count 0.
    notify = {t: c for t, c in totals.items() if t.startswith("notify/") and any(c.values())}
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
            'print(urllib.request.urlopen("http://127.0.0.1:9502/stats").read().decode())\''
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
        "rpc/neutron/q-plugin",
        "rpc/neutron/q-reports-plugin",
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


LAB_NETWORK = "lab-net"


def test_openvswitch_agent_alive(host):
    """The agent reports through neutron's RPC server (q-reports-plugin over ZeroMQ) from the
    compute host, on the userspace datapath, with the lab's physical network mapped."""
    hostname = host.check_output("hostname")
    agents = openstack(host, "network agent list --agent-type open-vswitch")
    assert [a for a in agents if a["Host"] == hostname and a["Alive"] and a["State"]], agents
    (agent,) = [a for a in agents if a["Host"] == hostname]
    details = openstack(host, "network agent show", agent["ID"])
    conf = details["configuration"]
    assert conf["datapath_type"] == "netdev", conf
    assert "physnet1" in conf["bridge_mappings"], conf
    assert host.check_output("ovs-vsctl get bridge br-int datapath_type") == "netdev"


@pytest.fixture()
def server_on_lab_net(host):
    """A server booted by nova (fake virt driver) on the lab network; deleted afterwards."""
    name = "zmqos-test-bind"
    image = f"/tmp/{name}.img"
    host.run(f"head -c 65536 /dev/zero > {image}")
    made = []
    try:
        made.append(("image", name))
        openstack(
            host, "image create --disk-format raw --container-format bare", "--file", image, name
        )
        made.append(("flavor", name))
        openstack(host, "flavor create --ram 64 --disk 0 --vcpus 1", name)
        made.append(("server", name))
        yield openstack(
            host,
            "server create --wait --image",
            name,
            "--flavor",
            name,
            "--network",
            LAB_NETWORK,
            name,
        )
    finally:
        for kind, item in reversed(made):
            host.run(f"{OPENSTACK} {kind} delete {'--wait ' if kind == 'server' else ''}{item}")
        host.run(f"rm -f {image}")


def test_server_port_binds_to_the_agent(host, server_on_lab_net):
    """nova binds the server's port on its host; ML2's openvswitch driver accepts it only for a
    live agent there that maps the network's physical network: vif_type ovs, not binding_failed."""
    assert server_on_lab_net["status"] == "ACTIVE", server_on_lab_net
    (port,) = openstack(host, "port list --server", server_on_lab_net["id"])
    shown = openstack(host, "port show", port["ID"])
    assert shown["binding_vif_type"] == "ovs", shown
    assert shown["binding_host_id"] == host.check_output("hostname"), shown
    assert shown["binding_vif_details"]["datapath_type"] == "netdev", shown


def test_cinder_volume_from_image_is_available(host):
    """cinder-volume copies an image into a volume: its privileged helpers start through sudo,
    cinder-rootwrap and privsep (no "a password is required"), and the volume becomes available.
    """
    log_path = LOG_DIR + "/cinder-volume.log"
    offset = int(host.check_output("stat -c %%s %s", log_path))
    host.check_output("head -c 1048576 /dev/zero > /tmp/zmqos-test-image.raw")
    image = openstack(
        host,
        "image create --disk-format raw --container-format bare",
        "--file /tmp/zmqos-test-image.raw zmqos-test-image",
    )
    volume = None
    try:
        started = time.monotonic()
        volume = openstack(host, f"volume create --image {image['id']} --size 1 zmqos-test-vol")

        def settled():
            status = openstack(host, f"volume show {volume['id']}")["status"]
            return status if status not in ("creating", "downloading") else None

        status = wait_for(settled, timeout=180)
        elapsed = time.monotonic() - started
        new_log = host.check_output("tail -c +%s %s", str(offset + 1), log_path)
        assert status == "available", (status, elapsed, new_log[-3000:])
        assert "a password is required" not in new_log
        # The volume's name is one of the API's resource filters (resource_filters.json).
        named = openstack(host, "volume list --name zmqos-test-vol")
        assert [v["ID"] for v in named] == [volume["id"]], named
    finally:
        if volume:
            openstack(host, f"volume delete {volume['id']}", output=False)
        openstack(host, f"image delete {image['id']}", output=False)
    daemon = host.check_output("grep -c 'privsep daemon running' %s || true", log_path)
    assert int(daemon or 0) > 0, "cinder-volume never started a privsep daemon"


def test_cinder_sudoers_allows_only_rootwrap(host):
    rules = host.check_output("sudo -l -U cinder")
    assert f"NOPASSWD: {VENV}/bin/cinder-rootwrap /etc/cinder/rootwrap.conf *" in rules, rules
    assert host.run("visudo -cf /etc/sudoers.d/cinder-rootwrap").rc == 0


def test_cinder_resource_filters_are_served(host):
    filters = openstack(host, "--os-volume-api-version 3.33 block storage resource filter list")
    by_resource = {f["Resource"]: f["Filters"] for f in filters}
    assert "name" in by_resource.get("volume", []), by_resource


def test_glance_metadefs_are_loaded(host):
    shipped = int(host.check_output(f"ls {VENV}/etc/glance/metadefs/*.json | wc -l"))
    namespaces = openstack(host, "image metadef namespace list")
    assert shipped > 0
    assert len(namespaces) >= shipped, (shipped, namespaces)
    assert any(n["namespace"] == "OS::Compute::Hypervisor" for n in namespaces), namespaces


def consumer_counts(host):
    return json.loads(host.file("/var/lib/lab-notifications/counts.json").content_string)


def test_notification_consumer_counts_a_new_event(host):
    """A keystone project created now reaches the consumer through the proxy."""
    before = consumer_counts(host)
    created = before["by_event_type"].get("identity.project.created", 0)
    openstack(host, "project create zmqos-test-notify")
    openstack(host, "project delete zmqos-test-notify", output=False)

    def grown():
        counts = consumer_counts(host)
        return (
            counts if counts["by_event_type"].get("identity.project.created", 0) > created else None
        )

    after = wait_for(grown, timeout=60)
    assert after, (before, consumer_counts(host))
    assert after["total"] > before["total"]
    assert after["pool"] == "lab-notifications"


def test_every_service_notification_is_consumed(host):
    """Every notify target that saw traffic at the proxy was routed to a listener and nothing
    was dropped (held counts only a short wait for a listener); the consumer counted the
    services' notifications, the smoke play's among them."""
    targets = {
        label: t
        for label, t in proxy_metrics(host)["targets"].items()
        if label.startswith("notify/") and t["routed"] + t["held"] + t["dropped"] > 0
    }
    exchanges = {label.split("/")[1] for label in targets}
    assert {"keystone", "glance", "nova", "openstack"} <= exchanges, sorted(targets)
    for label, t in targets.items():
        assert t["dropped"] == 0 and t["routed"] > 0 and t["listeners"] >= 1, (label, t)
    counts = consumer_counts(host)
    assert counts["total"] > 0, counts
    for event in ("image.create", "compute.instance.create.end", "volume.create.end"):
        assert counts["by_event_type"].get(event, 0) > 0, (event, counts["by_event_type"])


def tempest_report():
    return read_report(TEMPEST_REPORT, "ZMQOS_TEMPEST_REPORT")


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
