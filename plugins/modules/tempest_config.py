#!/usr/bin/python
# Copyright: contributors to the zeromq.openstack collection
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
module: tempest_config
short_description: Write tempest.conf from what an OpenStack cloud says about itself
version_added: 0.1.0
description:
  - Asks the cloud (with admin credentials from C(clouds.yaml)) what it has - the services of
    its catalog, compute and block-storage microversions, nova-compute nodes and hypervisor
    types, neutron's extensions and shared or external networks, cinder's backends and backup
    service, swift's middleware - and writes the tempest.conf that matches it.
  - Every option that switches a tempest feature off carries its reason as a comment above it
    (for example nova's fake virt driver and console output), and is returned in RV(flags).
  - The images and flavors tempest boots are looked up by name; they must exist.
author:
  - zeromq.openstack maintainers (!UNKNOWN)
extends_documentation_fragment:
  - zeromq.openstack.cloud
  - ansible.builtin.files
options:
  dest:
    description: Path of the tempest.conf to write.
    type: path
    required: true
  images:
    description: Names of the two images tempest boots (C(image_ref), C(image_ref_alt)).
    type: list
    elements: str
    required: true
  flavors:
    description: Names of the two flavors (C(flavor_ref), C(flavor_ref_alt)).
    type: list
    elements: str
    required: true
  log_file:
    description: tempest's log file (C([DEFAULT] log_file)); empty, tempest's default.
    type: str
    default: ""
  object_store_operator_role:
    description: Role swift's keystoneauth lets own an account (C(operator_roles)).
    type: str
    default: member
  object_store_reseller_admin_role:
    description: Role swift's keystoneauth treats as reseller admin (C(reseller_admin_role)).
    type: str
    default: ResellerAdmin
  overrides:
    description: "Options that win over the discovered ones, C({section: {option: value}})."
    type: dict
    default: {}
"""

EXAMPLES = r"""
- name: Write tempest.conf for the lab
  zeromq.openstack.tempest_config:
    cloud: lab-admin
    dest: /var/lib/zeromq-tempest/etc/tempest.conf
    images: [tempest-image, tempest-image-alt]
    flavors: [tempest-nano, tempest-micro]
    mode: "0600"
"""

RETURN = r"""
flags:
  description: Each option written with a reason (what switches a feature off, and why).
  returned: success
  type: list
  elements: dict
  sample: [{"section": "compute-feature-enabled", "option": "console_output", "value": "false",
            "reason": "nova's fake virt driver ... returns a fixed 3-line console log"}]
flag_lines:
  description: The same as RV(flags), one line each (C(section.option = value - reason)).
  returned: success
  type: list
  elements: str
facts:
  description: What was discovered (credentials left out).
  returned: success
  type: dict
"""

import os  # noqa: E402
import tempfile  # noqa: E402
import traceback  # noqa: E402
from urllib.parse import urlsplit, urlunsplit  # noqa: E402

from ansible.module_utils.basic import AnsibleModule, missing_required_lib  # noqa: E402
from ansible_collections.zeromq.openstack.plugins.module_utils import (  # noqa: E402
    tempest_conf,
)

try:
    import openstack

    SDK_IMPORT_ERROR = None
except ImportError:
    SDK_IMPORT_ERROR = traceback.format_exc()

HEADER = """tempest.conf written by zeromq.openstack.tempest_config from what the cloud reports.
A comment above an option gives the reason it narrows what tempest tests."""


def _max_microversion(proxy) -> str:
    data = proxy.get_endpoint_data()
    version = getattr(data, "max_microversion", None) if data else None
    return ".".join(str(p) for p in version) if version else ""


def _ids(module, finder, names, kind):
    found = []
    for name in names:
        obj = finder(name)
        if obj is None:
            module.fail_json(msg=f"tempest_config: {kind} {name!r} does not exist on the cloud")
        found.append(obj.id)
    return found


def discover(module, conn) -> dict:
    params = module.params
    auth = dict(conn.config.auth)
    auth["region"] = conn.config.region_name
    types = sorted({s["type"] for s in conn.service_catalog if s.get("endpoints")})
    if len(params["images"]) != 2 or len(params["flavors"]) != 2:
        module.fail_json(msg="tempest_config: images and flavors take two names each")
    images = _ids(module, conn.image.find_image, params["images"], "image")
    flavors = _ids(module, conn.compute.find_flavor, params["flavors"], "flavor")
    facts: dict = {
        "auth": auth,
        "service_types": types,
        "image_ref": images[0],
        "image_ref_alt": images[1],
        "flavor_ref": flavors[0],
        "flavor_ref_alt": flavors[1],
        "object_store_operator_role": params["object_store_operator_role"],
        "object_store_reseller_admin_role": params["object_store_reseller_admin_role"],
    }
    computes = [
        s for s in conn.compute.services() if s.binary == "nova-compute" and s.state == "up"
    ]
    facts["compute"] = {
        "max_microversion": _max_microversion(conn.compute),
        "compute_nodes": len(computes),
        "hypervisor_types": sorted(
            {h.hypervisor_type for h in conn.compute.hypervisors(details=True)}
        ),
    }
    if "network" in types:
        networks = list(conn.network.networks())
        facts["network"] = {
            "extensions": sorted(e.alias for e in conn.network.extensions()),
            "shared_networks": sorted(n.name for n in networks if n.is_shared),
            "external_network_id": next((n.id for n in networks if n.is_router_external), None),
        }
    if "block-storage" in types or "volumev3" in types:
        services = list(conn.block_storage.services())
        pools = [p.capabilities or {} for p in conn.block_storage.backend_pools()]
        first = pools[0] if pools else {}
        facts["volume"] = {
            "max_microversion": _max_microversion(conn.block_storage),
            "backend_names": sorted(
                {p.get("volume_backend_name") for p in pools if p.get("volume_backend_name")}
            ),
            "storage_protocol": first.get("storage_protocol", ""),
            "vendor_name": first.get("vendor_name", ""),
            "backup": any(s.binary == "cinder-backup" and s.state == "up" for s in services),
        }
    if "object-store" in types:
        endpoint = urlsplit(conn.object_store.get_endpoint())
        info_url = urlunsplit((endpoint.scheme, endpoint.netloc, "/info", "", ""))
        facts["object_store_info"] = conn.session.get(info_url, authenticated=False).json()
    return facts


def write(module, text: str) -> bool:
    dest = module.params["dest"]
    try:
        with open(dest, encoding="utf-8") as current:
            changed = current.read() != text
    except FileNotFoundError:
        changed = True
    if changed and not module.check_mode:
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(dest) or ".")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        module.atomic_move(tmp, dest)
    file_args = module.load_file_common_arguments(module.params)
    if os.path.exists(dest):
        changed = module.set_fs_attributes_if_different(file_args, changed)
    return changed


def main():
    module = AnsibleModule(
        argument_spec={
            "cloud": {"type": "str", "required": True},
            "dest": {"type": "path", "required": True},
            "images": {"type": "list", "elements": "str", "required": True},
            "flavors": {"type": "list", "elements": "str", "required": True},
            "log_file": {"type": "str", "default": ""},
            "object_store_operator_role": {"type": "str", "default": "member"},
            "object_store_reseller_admin_role": {"type": "str", "default": "ResellerAdmin"},
            "overrides": {"type": "dict", "default": {}},
        },
        add_file_common_args=True,
        supports_check_mode=True,
    )
    if SDK_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("openstacksdk"), exception=SDK_IMPORT_ERROR)
    try:
        conn = openstack.connect(cloud=module.params["cloud"])
        facts = discover(module, conn)
    except openstack.exceptions.SDKException as exc:
        module.fail_json(msg=f"tempest_config: cloud {module.params['cloud']}: {exc}")
    password = facts["auth"].get("password")
    if password:
        module.no_log_values.add(password)
    options = tempest_conf.build(facts, module.params["overrides"], module.params["log_file"])
    changed = write(module, options.render(HEADER))
    flags = [
        {"section": s, "option": o, "value": v, "reason": r}
        for s, opts in options.sections.items()
        for o, (v, r) in opts.items()
        if r
    ]
    public = {k: v for k, v in facts.items() if k != "auth"}
    lines = [f"{f['section']}.{f['option']} = {f['value']} - {f['reason']}" for f in flags]
    module.exit_json(changed=changed, flags=flags, flag_lines=lines, facts=public)


if __name__ == "__main__":
    main()
