"""Lab-only nova virt driver: nova's FakeDriver with a node UUID that survives restarts.

FakeDriver names its node after the host but takes the node UUID from a per-process sentinel,
and never records a node identity, so every nova-compute start after the first one stops with
"No local node identity found". Here the UUID is derived from the host name (UUIDv5) and kept in
<state_path>/compute_id, the file nova reads on start; an identity already recorded there wins.
"""

import uuid

import nova.conf
from nova.virt import fake, node

CONF = nova.conf.CONF
# Namespace of the lab's node UUIDs (a fixed UUIDv5 of the collection's name).
LAB_NODE_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_DNS, "lab.zeromq.openstack")


def stable_node_uuid(host: str) -> str:
    """The lab node UUID of a host name."""
    return str(uuid.uuid5(LAB_NODE_NAMESPACE, host))


class StableFakeDriver(fake.FakeDriver):
    """FakeDriver whose single node keeps its UUID across restarts."""

    def __init__(self, virtapi, read_only=False):
        super().__init__(virtapi, read_only=read_only)
        recorded = node.read_local_node_uuid()
        if recorded is None:
            recorded = stable_node_uuid(CONF.host)
            node.write_local_node_uuid(recorded)
        self._node_uuid = recorded

    def get_available_resource(self, nodename):
        resources = super().get_available_resource(nodename)
        resources["uuid"] = self._node_uuid
        return resources

    def get_nodenames_by_uuid(self, refresh=False):
        # One node per host, as FakeDriver sets it up in init_host.
        return {self._node_uuid: self.get_available_nodes()[0]}
