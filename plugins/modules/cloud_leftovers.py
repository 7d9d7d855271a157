#!/usr/bin/python
# Copyright: contributors to the zeromq.openstack collection
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
module: cloud_leftovers
short_description: Remove what smoke runs created, this run's or an aborted run's
version_added: 0.1.0
description:
  - Smoke runs name everything they create C(PREFIX-YYYYmmddTHHMMSSZ-TOKEN-KIND). This module
    deletes, in dependency order, the servers, volumes, ports, subnets, networks, images, object
    containers (with their objects), users, projects and flavors whose name belongs to one of
    O(runs), or to any run that started more than O(older_than) seconds ago - the leftovers of
    an aborted run. Recent runs of other smoke runners are left alone.
  - Every removal is tried; the module fails at the end naming each one that failed.
author:
  - zeromq.openstack maintainers (!UNKNOWN)
extends_documentation_fragment:
  - zeromq.openstack.cloud
options:
  prefix:
    description: The runs' name prefix (smoke_name_prefix).
    type: str
    required: true
  runs:
    description: Names of runs whose resources go whatever their age (this run's own).
    type: list
    elements: str
    default: []
  older_than:
    description: Seconds after its start from which a run's resources count as leftovers.
    type: int
    default: 3600
  timeout:
    description: Seconds to wait for each server and volume to be gone.
    type: int
    default: 300
"""

EXAMPLES = r"""
- name: Remove leftovers of aborted smoke runs (started over an hour ago)
  zeromq.openstack.cloud_leftovers:
    cloud: lab
    prefix: zmqos-smoke
    older_than: 3600
"""

RETURN = r"""
removed:
  description: Per kind, the names removed (or, in check mode, that would be).
  returned: always
  type: dict
  sample: {"servers": ["zmqos-smoke-20261202T010203Z-a1b2c3-server"], "volumes": []}
"""

import time  # noqa: E402
import traceback  # noqa: E402
from datetime import UTC, datetime  # noqa: E402

from ansible.module_utils.basic import AnsibleModule, missing_required_lib  # noqa: E402
from ansible_collections.zeromq.openstack.plugins.module_utils import (  # noqa: E402
    smoke_names,
)

try:
    import openstack

    SDK_IMPORT_ERROR = None
except ImportError:
    SDK_IMPORT_ERROR = traceback.format_exc()


def _wait_gone(find, ident, timeout):
    deadline = time.monotonic() + timeout
    while find(ident) is not None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"still there after {timeout} s")
        time.sleep(1)


def _kinds(conn, timeout):
    """(kind, catalog types of its service, listing, delete) in the order they must go."""

    def server(s):
        conn.compute.delete_server(s)
        _wait_gone(lambda i: conn.compute.find_server(i, all_projects=True), s.id, timeout)

    def volume(v):
        conn.block_storage.delete_volume(v)
        _wait_gone(lambda i: conn.block_storage.find_volume(i, all_projects=True), v.id, timeout)

    def container(c):
        for obj in conn.object_store.objects(c.name):
            conn.object_store.delete_object(obj, container=c.name)
        conn.object_store.delete_container(c)

    # Each proxy is reached only when a listing or delete is called: openstacksdk builds a
    # proxy on first access and raises (keystoneauth's EndpointNotFound) when the catalog lacks
    # its service, e.g. conn.object_store on a cloud without swift.
    def lister(proxy, listing):
        def list_all():
            return getattr(getattr(conn, proxy), listing)()

        return list_all

    def deleter(proxy, delete):
        def remove(resource):
            return getattr(getattr(conn, proxy), delete)(resource)

        return remove

    def lazy(proxy, listing, delete):
        return lister(proxy, listing), deleter(proxy, delete)

    compute, volume_types, network = {"compute"}, {"block-storage", "volumev3"}, {"network"}
    return [
        ("servers", compute, lambda: conn.compute.servers(all_projects=True), server),
        ("volumes", volume_types, lambda: conn.block_storage.volumes(all_projects=True), volume),
        ("ports", network, *lazy("network", "ports", "delete_port")),
        ("subnets", network, *lazy("network", "subnets", "delete_subnet")),
        ("networks", network, *lazy("network", "networks", "delete_network")),
        ("images", {"image"}, *lazy("image", "images", "delete_image")),
        ("containers", {"object-store"}, lister("object_store", "containers"), container),
        ("users", {"identity"}, *lazy("identity", "users", "delete_user")),
        ("projects", {"identity"}, *lazy("identity", "projects", "delete_project")),
        ("flavors", compute, *lazy("compute", "flavors", "delete_flavor")),
    ]


def main():
    module = AnsibleModule(
        argument_spec={
            "cloud": {"type": "str", "required": True},
            "prefix": {"type": "str", "required": True},
            "runs": {"type": "list", "elements": "str", "default": []},
            "older_than": {"type": "int", "default": 3600},
            "timeout": {"type": "int", "default": 300},
        },
        supports_check_mode=True,
    )
    if SDK_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("openstacksdk"), exception=SDK_IMPORT_ERROR)
    params = module.params
    now = datetime.now(UTC)

    def ours(name):
        name = name or ""
        if any(name == r or name.startswith(r + "-") for r in params["runs"]):
            return True
        return smoke_names.is_leftover(params["prefix"], name, now, params["older_than"])

    removed: dict[str, list[str]] = {}
    errors = []
    try:
        conn = openstack.connect(cloud=params["cloud"])
        services = {s["type"] for s in conn.service_catalog if s.get("endpoints")}
        for kind, types, listing, delete in _kinds(conn, params["timeout"]):
            if not types & services:
                continue
            removed[kind] = []
            try:
                found = [r for r in listing() if ours(r.name)]
            except openstack.exceptions.SDKException as exc:
                errors.append(f"listing {kind}: {exc}")
                continue
            for resource in found:
                try:
                    if not module.check_mode:
                        delete(resource)
                    removed[kind].append(resource.name)
                except (openstack.exceptions.SDKException, TimeoutError) as exc:
                    errors.append(f"{kind} {resource.name}: {exc}")
    except openstack.exceptions.SDKException as exc:
        errors.append(f"cloud {params['cloud']}: {exc}")
    changed = any(removed.values())
    if errors:
        module.fail_json(
            msg="cloud_leftovers: could not remove " + "; ".join(errors),
            removed=removed,
            changed=changed,
        )
    module.exit_json(changed=changed, removed=removed)


if __name__ == "__main__":
    main()
