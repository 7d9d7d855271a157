"""What every stage's tests of the debian13 scenario read: hosts, config files, smoke reports."""

from __future__ import annotations

import configparser
import io
import json
import os
import re

import testinfra

CONTROLLER = "debian-ctl"
COMPUTES = ("debian-cmp1", "debian-cmp2")
PROXIES = ("debian-ctl", "debian-cmp2")
# Debian's config files that carry each service's transport, per host kind.
CONTROLLER_TRANSPORTS = {
    "/etc/keystone/keystone.conf": "keystone",
    "/etc/glance/glance-api.conf": "glance",
    "/etc/nova/nova.conf": "nova",
    "/etc/neutron/neutron.conf": "neutron",
    "/etc/cinder/cinder.conf": "cinder",
}
COMPUTE_TRANSPORTS = {"/etc/nova/nova.conf": "nova", "/etc/neutron/neutron.conf": "neutron"}
# Services with notifications only: the collection renders [oslo_messaging_notifications]
# transport_url; [DEFAULT] transport_url, which they do not use, stays as Debian's was.
NOTIFY_ONLY = {"keystone", "glance"}
# No swift in this cloud: the smoke play skips the object steps (not in the catalog).
SKIPPED_STEPS = {"objects_upload", "objects_readback"}
# The config files of every host, for the tests that look at each one.
EVERY_TRANSPORT = [(CONTROLLER, p, u) for p, u in sorted(CONTROLLER_TRANSPORTS.items())] + [
    (c, p, u) for c in COMPUTES for p, u in sorted(COMPUTE_TRANSPORTS.items())
]


def host(name: str):
    return testinfra.get_host("podman://" + name)


def config(node, path: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.read_file(io.StringIO(node.check_output("cat %s", path)))
    return parser


def transport(node, path: str, section: str = "DEFAULT") -> str:
    return config(node, path).get(section, "transport_url", fallback="")


def smoke_report(stage: str) -> dict:
    """The smoke report the stage's side_effect playbook wrote (smoke-<stage>.json)."""
    directory = os.environ.get("ZMQOS_SMOKE_REPORTS", "")
    assert directory, "ZMQOS_SMOKE_REPORTS is not set (run through molecule)"
    with open(os.path.join(directory, f"smoke-{stage}.json"), encoding="utf-8") as handle:
        return json.load(handle)


def assert_all_ok(report: dict) -> dict[str, dict]:
    """Every step OK but the object steps (no swift here), which are SKIPPED; steps by name."""
    steps = {s["name"]: s for s in report["steps"]}
    assert report["outcome"] == "OK", report
    not_ok = {n: s for n, s in steps.items() if s["outcome"] != "OK" and n not in SKIPPED_STEPS}
    assert not_ok == {}, not_ok
    for name in SKIPPED_STEPS:
        assert steps[name]["outcome"] == "SKIPPED", steps[name]
    for name in ("network", "server_boot", "server_reboot", "volume_from_image", "volume_attach"):
        assert steps[name]["outcome"] == "OK", steps[name]
    return steps


def routed(step: dict, prefix: str = "") -> int:
    return sum(
        counts.get("routed", 0)
        for label, counts in (step.get("targets") or {}).items()
        if label.startswith(prefix)
    )


def cell_mappings() -> dict[str, str]:
    """nova-manage's cell list: {cell name: transport URL}, as stored (--verbose: the short
    list masks passwords with a pattern that mangles a URL of several hosts)."""
    out = host(CONTROLLER).check_output(
        "runuser -u nova -- nova-manage cell_v2 list_cells --verbose 2>/dev/null"
    )
    cells = {}
    for line in out.splitlines():
        cols = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cols) >= 4 and cols[0] not in ("Name", "") and not line.startswith("+"):
            cells[cols[0]] = cols[2]
    return cells


def masked(url: str) -> str:
    """URL with every password replaced, for assertion messages."""
    return re.sub(r"(://|,)([^:@/,]+):[^@]*@", r"\1\2:***@", url)


def proxy_metrics(name: str) -> dict:
    """A proxy's /stats JSON, read on its own host (port 9502 listens on 127.0.0.1)."""
    out = host(name).check_output(
        "python3 -c 'import urllib.request as u;"
        ' print(u.urlopen("http://127.0.0.1:9502/stats", timeout=5).read().decode())\''
    )
    return json.loads(out)
