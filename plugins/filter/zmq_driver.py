# Copyright: contributors to the zeromq.openstack collection
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Filter of the driver's shipping: the fingerprint of the source's code."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible_collections.zeromq.openstack.plugins.module_utils import driver_digest


def zmq_driver_digest(files: dict) -> str:
    """sha256 of the driver modules in FILES (the source_tree lookup's {path: text})."""
    if not isinstance(files, dict):
        raise AnsibleFilterError("zmq_driver_digest: expects the source_tree lookup's dictionary")
    try:
        return driver_digest.source_digest(files)
    except ValueError as exc:
        raise AnsibleFilterError(f"zmq_driver_digest: {exc}") from exc


class FilterModule:
    def filters(self):
        return {"zmq_driver_digest": zmq_driver_digest}
