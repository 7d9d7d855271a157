# Copyright: contributors to the zeromq.openstack collection
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""tempest.conf from what a cloud says about itself (no cloud access here: facts in, text out).

``build(facts, overrides)`` turns the facts the tempest_config module discovers into tempest's
options. Every option that switches a feature off, or narrows what tempest expects, carries the
reason next to it; the rendered file writes it as a comment above the option, so each skip of a
tempest run can be traced to a flag and its reason.
"""

from __future__ import annotations

from typing import Any

# catalog service type -> tempest [service_available] option
SERVICE_TYPES = {
    "compute": "nova",
    "image": "glance",
    "network": "neutron",
    "object-store": "swift",
    "block-storage": "cinder",
    "volumev3": "cinder",
    "orchestration": "heat",
    "placement": "placement",
    "dashboard": "horizon",
}
# Services tempest knows that are looked for in the catalog; a missing one is switched off.
TEMPEST_SERVICES = ("nova", "glance", "neutron", "swift", "cinder", "heat", "horizon")
FAKE_HYPERVISORS = {"fake"}


class Options:
    """Ordered sections of options, each value with an optional reason."""

    def __init__(self) -> None:
        self.sections: dict[str, dict[str, tuple[str, str]]] = {}

    def set(self, section: str, option: str, value: Any, reason: str = "") -> None:
        self.sections.setdefault(section, {})[option] = (_text(value), reason)

    def render(self, header: str) -> str:
        lines = [f"# {line}" if line else "#" for line in header.splitlines()]
        for section, opts in self.sections.items():
            lines += ["", f"[{section}]"]
            for option, (value, reason) in opts.items():
                if reason:
                    lines.append(f"# {reason}")
                lines.append(f"{option} = {value}")
        return "\n".join(lines) + "\n"


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return "" if value is None else str(value)


def _identity(opts: Options, facts: dict) -> None:
    auth = facts["auth"]
    opts.set("identity", "uri_v3", auth["auth_url"])
    opts.set("identity", "auth_version", "v3")
    opts.set("identity", "region", auth.get("region") or "RegionOne")
    opts.set("identity", "v3_endpoint_type", "public")
    opts.set("identity-feature-enabled", "api_v2", False, "keystone serves only API v3")
    opts.set("auth", "admin_username", auth["username"])
    opts.set("auth", "admin_password", auth["password"])
    opts.set("auth", "admin_project_name", auth["project_name"])
    opts.set("auth", "admin_domain_name", auth.get("user_domain_name") or "Default")
    opts.set("auth", "use_dynamic_credentials", True)


def _compute(opts: Options, facts: dict) -> None:
    compute = facts.get("compute") or {}
    opts.set("compute", "image_ref", facts["image_ref"])
    opts.set("compute", "image_ref_alt", facts["image_ref_alt"])
    opts.set("compute", "flavor_ref", facts["flavor_ref"])
    opts.set("compute", "flavor_ref_alt", facts["flavor_ref_alt"])
    if compute.get("max_microversion"):
        opts.set("compute", "max_microversion", compute["max_microversion"])
    nodes = int(compute.get("compute_nodes") or 0)
    opts.set(
        "compute",
        "min_compute_nodes",
        max(nodes, 1),
        f"nova-compute services up: {nodes} (multi-node tests need 2)",
    )
    single = nodes < 2
    for option in ("live_migration", "cold_migration", "resize"):
        if single:
            opts.set(
                "compute-feature-enabled",
                option,
                False,
                "one compute node: nothing to migrate or resize to",
            )
    hypervisors = set(compute.get("hypervisor_types") or [])
    if hypervisors and hypervisors <= FAKE_HYPERVISORS:
        fake = "nova's fake virt driver (hypervisor_type fake)"
        for option, why in (
            ("console_output", "returns a fixed 3-line console log; tempest asks for 10 lines"),
            ("vnc_console", "has no graphical console"),
            ("spice_console", "has no graphical console"),
            ("serial_console", "has no serial console"),
            ("attach_encrypted_volume", "has no guest to decrypt a volume in"),
            ("interface_attach", "plugs no interfaces"),
        ):
            opts.set("compute-feature-enabled", option, False, f"{fake} {why}")
        opts.set(
            "validation",
            "run_validation",
            False,
            f"{fake} runs no guest: there is nothing to reach by SSH or ping",
        )


def _network(opts: Options, facts: dict) -> None:
    network = facts.get("network") or {}
    extensions = sorted(network.get("extensions") or [])
    opts.set(
        "network-feature-enabled",
        "api_extensions",
        extensions,
        "the extensions neutron lists at GET /v2.0/extensions",
    )
    opts.set("network-feature-enabled", "port_security", "port-security" in extensions)
    opts.set("network-feature-enabled", "ipv6", True)
    opts.set(
        "network",
        "project_networks_reachable",
        False,
        "no guest on a project network can be reached from the test host",
    )
    external = network.get("external_network_id")
    if external:
        opts.set("network", "public_network_id", external)
    shared = network.get("shared_networks") or []
    if "router" not in extensions:
        opts.set(
            "auth",
            "create_isolated_networks",
            False,
            "neutron has no router extension: project networks cannot be given routers; "
            "servers boot on the shared network (compute fixed_network_name)",
        )
    if shared:
        opts.set("compute", "fixed_network_name", shared[0])


def _volume(opts: Options, facts: dict) -> None:
    volume = facts.get("volume") or {}
    if volume.get("max_microversion"):
        opts.set("volume", "max_microversion", volume["max_microversion"])
    if volume.get("backend_names"):
        opts.set("volume", "backend_names", volume["backend_names"])
    if volume.get("storage_protocol"):
        opts.set("volume", "storage_protocol", volume["storage_protocol"])
    if volume.get("vendor_name"):
        opts.set("volume", "vendor_name", volume["vendor_name"])
    if not volume.get("backup"):
        opts.set("volume-feature-enabled", "backup", False, "no cinder-backup service is up")


def _object_store(opts: Options, facts: dict) -> None:
    info = facts.get("object_store_info") or {}
    if info:
        apis = sorted(k for k in info if k not in ("swift",) and not k.startswith("_"))
        opts.set(
            "object-storage-feature-enabled",
            "discoverable_apis",
            apis,
            "the middleware swift lists at GET /info",
        )
    if facts.get("object_store_operator_role"):
        opts.set("object-storage", "operator_role", facts["object_store_operator_role"])
    if facts.get("object_store_reseller_admin_role"):
        opts.set("object-storage", "reseller_admin_role", facts["object_store_reseller_admin_role"])


def _services(opts: Options, facts: dict) -> None:
    present = {SERVICE_TYPES[t] for t in facts.get("service_types", []) if t in SERVICE_TYPES}
    for service in TEMPEST_SERVICES:
        reason = "" if service in present else "not in the catalog"
        opts.set("service_available", service, service in present, reason)


def build(facts: dict, overrides: dict | None = None, log_file: str = "") -> Options:
    """All of tempest.conf from the discovered facts; overrides ({section: {opt: value}}) win."""
    opts = Options()
    if log_file:
        opts.set("DEFAULT", "log_file", log_file)
    _identity(opts, facts)
    _services(opts, facts)
    _compute(opts, facts)
    if "network" in facts:
        _network(opts, facts)
    if "volume" in facts:
        _volume(opts, facts)
    _object_store(opts, facts)
    for section, options in (overrides or {}).items():
        for option, value in (options or {}).items():
            opts.set(section, option, value, "set by tempest_conf_overrides")
    return opts
