#!/usr/bin/python
# Copyright: contributors to the zeromq.openstack collection
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
module: compute_server
short_description: Boot or delete an OpenStack server, with no network when the cloud has none
version_added: 0.1.0
description:
  - Boots a server from an image and a flavor and waits until it is C(ACTIVE), or deletes it and
    waits until it is gone. The server is found by its name, so a second run changes nothing.
  - Without O(network) the server is booted with C(networks=none) (compute API microversion
    2.37 or later), for clouds with no tenant networks such as the project's lab. This is why
    the module exists - C(openstack.cloud.server) cannot boot without a NIC.
  - A server that ends in C(ERROR) fails the module with the fault nova recorded.
author:
  - zeromq.openstack maintainers (!UNKNOWN)
extends_documentation_fragment:
  - zeromq.openstack.cloud
options:
  name:
    description: Name of the server.
    type: str
    required: true
  state:
    description: V(present) boots the server when it does not exist; V(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
  image:
    description: Name or ID of the image to boot. Required with O(state=present).
    type: str
  flavor:
    description: Name or ID of the flavor. Required with O(state=present).
    type: str
  network:
    description:
      - Name or ID of the network to attach. Omitted, the server gets no network at all.
    type: str
  timeout:
    description: Seconds to wait for C(ACTIVE) or for the deletion.
    type: int
    default: 300
"""

EXAMPLES = r"""
- name: Boot a server without a network
  zeromq.openstack.compute_server:
    cloud: lab
    name: smoke-server
    image: cirros
    flavor: m1.tiny

- name: Delete it
  zeromq.openstack.compute_server:
    cloud: lab
    name: smoke-server
    state: absent
"""

RETURN = r"""
server:
  description: The server as it is after the module ran (empty after a deletion).
  returned: always
  type: dict
  sample: {"id": "0b5e...", "name": "smoke-server", "status": "ACTIVE", "host": "aio1"}
elapsed:
  description: Seconds the boot or the deletion took, waiting included.
  returned: always
  type: float
"""

import time  # noqa: E402
import traceback  # noqa: E402

from ansible.module_utils.basic import AnsibleModule, missing_required_lib  # noqa: E402

try:
    import openstack

    SDK_IMPORT_ERROR = None
except ImportError:
    SDK_IMPORT_ERROR = traceback.format_exc()


def _summary(server):
    if server is None:
        return {}
    return {
        "id": server.id,
        "name": server.name,
        "status": server.status,
        "host": getattr(server, "compute_host", None),
        "flavor": (server.flavor or {}).get("original_name"),
    }


def _find_server(conn, name):
    return conn.compute.find_server(name, ignore_missing=True)


def _boot(module, conn):
    params = module.params
    image = conn.image.find_image(params["image"], ignore_missing=True)
    if image is None:
        module.fail_json(msg=f"compute_server: image {params['image']!r} not found")
    flavor = conn.compute.find_flavor(params["flavor"], ignore_missing=True)
    if flavor is None:
        module.fail_json(msg=f"compute_server: flavor {params['flavor']!r} not found")
    if params["network"]:
        network = conn.network.find_network(params["network"], ignore_missing=True)
        if network is None:
            module.fail_json(msg=f"compute_server: network {params['network']!r} not found")
        networks = [{"uuid": network.id}]
    else:
        networks = "none"
    server = conn.compute.create_server(
        name=params["name"], image_id=image.id, flavor_id=flavor.id, networks=networks
    )
    return conn.compute.wait_for_server(
        server, status="ACTIVE", failures=["ERROR"], interval=1, wait=params["timeout"]
    )


def main():
    module = AnsibleModule(
        argument_spec={
            "cloud": {"type": "str", "required": True},
            "name": {"type": "str", "required": True},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "image": {"type": "str"},
            "flavor": {"type": "str"},
            "network": {"type": "str"},
            "timeout": {"type": "int", "default": 300},
        },
        required_if=[("state", "present", ("image", "flavor"))],
        supports_check_mode=True,
    )
    if SDK_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("openstacksdk"), exception=SDK_IMPORT_ERROR)

    params = module.params
    started = time.monotonic()
    try:
        conn = openstack.connect(cloud=params["cloud"])
        server = _find_server(conn, params["name"])
        if params["state"] == "present":
            if server is not None and server.status == "ACTIVE":
                module.exit_json(changed=False, server=_summary(server), elapsed=0.0)
            if server is not None:
                module.fail_json(
                    msg=f"compute_server: server {params['name']!r} exists in state "
                    f"{server.status}, not ACTIVE",
                    server=_summary(server),
                )
            if module.check_mode:
                module.exit_json(changed=True, server={}, elapsed=0.0)
            server = _boot(module, conn)
            module.exit_json(
                changed=True,
                server=_summary(server),
                elapsed=round(time.monotonic() - started, 3),
            )
        if server is None:
            module.exit_json(changed=False, server={}, elapsed=0.0)
        if not module.check_mode:
            conn.compute.delete_server(server)
            conn.compute.wait_for_delete(server, interval=1, wait=params["timeout"])
        module.exit_json(changed=True, server={}, elapsed=round(time.monotonic() - started, 3))
    except openstack.exceptions.ResourceFailure as exc:
        failed = _find_server(conn, params["name"])
        fault = (getattr(failed, "fault", None) or {}).get("message", "no fault recorded")
        module.fail_json(
            msg=f"compute_server: server {params['name']!r} went to ERROR: {fault} ({exc})",
            server=_summary(failed),
        )
    except openstack.exceptions.ResourceTimeout as exc:
        module.fail_json(
            msg=f"compute_server: {params['name']!r} not done within "
            f"timeout={params['timeout']}s: {exc}"
        )
    except openstack.exceptions.SDKException as exc:
        module.fail_json(msg=f"compute_server: {exc}")


if __name__ == "__main__":
    main()
