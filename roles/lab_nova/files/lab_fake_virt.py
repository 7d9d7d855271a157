"""Lab-only nova virt driver: nova's FakeDriver with a node UUID that survives restarts.

FakeDriver names its node after the host but takes the node UUID from a per-process sentinel,
and never records a node identity, so every nova-compute start after the first one stops with
"No local node identity found". Here the UUID is derived from the host name (UUIDv5) and kept in
<state_path>/compute_id, the file nova reads on start; an identity already recorded there wins.

FakeDriver also plugs nothing, so neutron's Open vSwitch agent never sees a device and a bound
port stays DOWN. Here a VIF of type "ovs" becomes an internal port on its bridge (br-int), named
and tagged as os-vif tags it (external_ids iface-id, attached-mac, vm-uuid, iface-status): the
agent wires it, reports it up and neutron tells nova network-vif-plugged, as for a real guest.
OVSDB is reached over its TCP manager ([lab_fake_virt] ovsdb_connection), which needs no root.
"""

import time
import uuid

import nova.conf
from nova.virt import fake, node
from oslo_concurrency import processutils
from oslo_config import cfg
from oslo_log import log as logging

CONF = nova.conf.CONF
LOG = logging.getLogger(__name__)
CONF.register_opts(
    [
        cfg.StrOpt(
            "ovsdb_connection",
            default="",
            help="OVSDB to plug VIFs of type ovs into (e.g. tcp:127.0.0.1:6640); empty: none.",
        ),
    ],
    group="lab_fake_virt",
)
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

    def get_host_uptime(self):
        # FakeDriver raises NotImplementedError, which nova-compute logs as a traceback for every
        # hypervisor "show" at microversion 2.88 or later (tempest makes them). This returns the
        # host's uptime in the shape of uptime(1)'s output, as the libvirt driver does.
        with open("/proc/uptime", encoding="ascii") as uptime:
            seconds = int(float(uptime.read().split()[0]))
        with open("/proc/loadavg", encoding="ascii") as loadavg:
            load = ", ".join(loadavg.read().split()[:3])
        days, rest = divmod(seconds, 86400)
        up = f"{days} days, {rest // 3600}:{rest % 3600 // 60:02d}"
        return f"{time.strftime('%H:%M:%S')} up {up},  0 users,  load average: {load}"

    def spawn(self, context, instance, *args, **kwargs):
        super().spawn(context, instance, *args, **kwargs)
        self.plug_vifs(instance, kwargs.get("network_info") or [])

    def destroy(self, context, instance, network_info, *args, **kwargs):
        self.unplug_vifs(instance, network_info or [])
        super().destroy(context, instance, network_info, *args, **kwargs)

    def plug_vifs(self, instance, network_info):
        for vif in _ovs_vifs(network_info):
            bridge, dev = vif["network"]["bridge"] or "br-int", vif["devname"]
            LOG.info("Plugging %s into %s for port %s", dev, bridge, vif["id"], instance=instance)
            _vsctl(
                ["--may-exist", "add-port", bridge, dev, "--", "set", "Interface", dev]
                + ["type=internal"]
                + [f"external_ids:{key}={value}" for key, value in _external_ids(vif, instance)]
            )

    def unplug_vifs(self, instance, network_info):
        for vif in _ovs_vifs(network_info):
            bridge, dev = vif["network"]["bridge"] or "br-int", vif["devname"]
            LOG.info("Unplugging %s from %s", dev, bridge, instance=instance)
            _vsctl(["--if-exists", "del-port", bridge, dev])


def _ovs_vifs(network_info):
    """The VIFs to plug: those bound by neutron's openvswitch driver, when an OVSDB is set."""
    if not CONF.lab_fake_virt.ovsdb_connection:
        return []
    return [vif for vif in network_info if vif["type"] == "ovs"]


def _external_ids(vif, instance) -> list:
    """The Interface external_ids by which neutron's agent recognises a port."""
    return [
        ("iface-id", vif["id"]),
        ("iface-status", "active"),
        ("attached-mac", vif["address"]),
        ("vm-uuid", instance.uuid),
    ]


def _vsctl(args: list) -> None:
    processutils.execute(
        "ovs-vsctl", "--timeout=10", "--db=" + CONF.lab_fake_virt.ovsdb_connection, "--", *args
    )
