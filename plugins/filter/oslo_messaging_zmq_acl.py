# Copyright: contributors to the zeromq.openstack collection
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Filter oslo_messaging_zmq_acl: the listen/send permissions of one service's CURVE key.

The proxies read them from the metadata of the key file the role writes into their
allowed_clients directory (pattern syntax: driver/README.md, "Authorization"). What a
service listens on comes from the table below, by the systemd units the entry lists and the
host's names; what it sends is its own control exchange, fanouts within it, and
notifications. When a unit is not in the table the whole control exchange is allowed: a too
strict table would break a real service (the debian13 scenario runs nova, neutron, cinder,
glance and keystone on these keys), a too loose one only gives back rights every key had.

Topics, from the services' own code:

* nova: compute/rpcapi.py ``RPC_TOPIC = "compute"``, conductor ``"conductor"``, scheduler
  ``"scheduler"``; every RPC server is ``Target(topic, server=CONF.host)``. nova-compute
  calls other computes directly (migrations) and fans out to the scheduler
  (update_instance_info): it sends within its exchange, fanouts included.
* neutron: common/topics.py; agents consume ``q-agent-notifier-<resource>-<op>`` (and
  ``.<host>``), versioned-object pushes ``neutron-vo-<Resource>-<version>``, ``dhcp_agent``,
  ``l3_agent``, ``metering_agent``, all with ``server=CONF.host``; the server consumes many
  plugin topics (``q-plugin``, ``q-reports-plugin``, ``q-l3-plugin``, …): its whole exchange.
* cinder: volume/rpcapi.py ``TOPIC = "cinder-volume"`` with ``server=<host>@<backend>``;
  cinder-volume also serves the per-backend topic ``cinder-volume.<host>@<backend>`` with
  ``server=<host>`` (cinder/service.py, the one the volume rpcapi casts to: a run of the
  debian13 scenario refused exactly it); ``cinder-scheduler`` and ``cinder-backup`` with
  ``server=host``; cinder's control exchange is oslo.messaging's default, ``openstack``. A
  cinder cluster's topics (``cinder-volume.<cluster>@<backend>``) are not in the table: exempt
  such an entry (oslo_messaging_zmq_acl_exempt).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ansible.errors import AnsibleFilterError

# Control exchange of a service whose entry and traits name none (oslo.messaging's default).
DEFAULT_EXCHANGE = "openstack"

# unit (without .service) -> listen patterns; {ex}: the control exchange, {h}: each host name.
# A unit absent here (and not in QUIET_UNITS) gets WHOLE_EXCHANGE.
UNIT_LISTEN: dict[str, tuple[str, ...]] = {
    # nova
    "nova-compute": ("{ex}:compute/{h}",),
    "nova-conductor": ("{ex}:conductor",),
    "nova-scheduler": ("{ex}:scheduler",),
    # neutron agents: their fanout topics and their own direct topics, only as this host
    "neutron-openvswitch-agent": ("{ex}:q-agent-notifier-*/{h}", "{ex}:neutron-vo-*/{h}"),
    "neutron-linuxbridge-agent": ("{ex}:q-agent-notifier-*/{h}", "{ex}:neutron-vo-*/{h}"),
    "neutron-sriov-nic-agent": ("{ex}:q-agent-notifier-*/{h}", "{ex}:neutron-vo-*/{h}"),
    "neutron-macvtap-agent": ("{ex}:q-agent-notifier-*/{h}", "{ex}:neutron-vo-*/{h}"),
    "neutron-dhcp-agent": (
        "{ex}:dhcp_agent/{h}",
        "{ex}:q-agent-notifier-*/{h}",
        "{ex}:neutron-vo-*/{h}",
    ),
    "neutron-l3-agent": (
        "{ex}:l3_agent/{h}",
        "{ex}:q-agent-notifier-*/{h}",
        "{ex}:neutron-vo-*/{h}",
    ),
    "neutron-metering-agent": ("{ex}:metering_agent/{h}", "{ex}:neutron-vo-*/{h}"),
    # neutron server: many plugin topics, extensions add more
    "neutron-server": ("{ex}:*",),
    "neutron-rpc-server": ("{ex}:*",),
    "neutron-periodic-workers": ("{ex}:*",),
    # cinder
    "cinder-volume": (
        "{ex}:cinder-volume/{h}@*",
        "{ex}:cinder-volume/{h}",
        "{ex}:cinder-volume.{h}@*/{h}",
    ),
    "cinder-scheduler": ("{ex}:cinder-scheduler",),
    "cinder-backup": ("{ex}:cinder-backup/{h}",),
}
# What a unit absent from the table listens on: its service's whole exchange, RPC and
# notifications (heat-engine's topics engine, engine_worker, heat-engine-listener with a random
# engine id as server; a test service's notification listener…).
WHOLE_EXCHANGE = ("{ex}:*", "notify:{ex}:*")

# Units that consume other services' notifications, from every exchange (whatever the entry's
# rpc says). Other consumers: list their entry in oslo_messaging_zmq_acl_exempt.
NOTIFY_CONSUMERS = {"ceilometer-agent-notification": ("notify:*:*",)}

# Units that run no RPC server (they only call or notify): they add nothing to listen.
QUIET_UNITS = frozenset(
    {
        "nova-api",
        "nova-api-metadata",
        "nova-metadata-api",
        "nova-novncproxy",
        "nova-spicehtml5proxy",
        "nova-serialproxy",
        "nova-consoleproxy",
        "neutron-api",
        "neutron-metadata-agent",
        "neutron-ovn-metadata-agent",
        "cinder-api",
        "glance-api",
        "keystone",
        "heat-api",
        "heat-api-cfn",
        "apache2",
        "httpd",
    }
)


def _unit(name) -> str:
    name = str(name).strip()
    return name[: -len(".service")] if name.endswith(".service") else name


def _names(host_names) -> list[str]:
    if isinstance(host_names, str) or not isinstance(host_names, Iterable):
        host_names = [host_names]
    out = []
    for name in host_names:
        name = str(name or "").strip()
        if name and name not in out and not any(c.isspace() or c in "\"':/" for c in name):
            out.append(name)
    return out


def oslo_messaging_zmq_acl(entry: Mapping, host_names, enforce: bool = True) -> dict[str, str]:
    """{"listen": …, "send": …} for one service entry (oslo_messaging_zmq_entries' output).

    host_names: the names the service may run as (inventory_hostname, ansible_hostname,
    its configured ``host``…). enforce=False, a notification-free entry with no RPC, or an
    entry without a name: {} (a key file without metadata keeps every right).
    """
    if not isinstance(entry, Mapping):
        raise AnsibleFilterError("oslo_messaging_zmq_acl expects a service entry (a dictionary)")
    if not enforce or not entry.get("name"):
        return {}
    exchange = str(entry.get("ping_exchange") or DEFAULT_EXCHANGE)
    names = _names(host_names)
    if not names:
        raise AnsibleFilterError(f"oslo_messaging_zmq_acl: no host name for {entry['name']}")
    listen: list[str] = []
    units = [_unit(u) for u in entry.get("units") or []]
    if entry.get("rpc"):
        if not units:
            units = ["(not listed)"]  # not known: its whole exchange
        for unit in units:
            if unit in QUIET_UNITS:
                continue
            for pattern in UNIT_LISTEN.get(unit, WHOLE_EXCHANGE):
                for host in names if "{h}" in pattern else names[:1]:
                    text = pattern.format(ex=exchange, h=host)
                    if text not in listen:
                        listen.append(text)
    for unit in units:
        for text in NOTIFY_CONSUMERS.get(unit, ()):
            if text not in listen:
                listen.append(text)
    send = []
    if entry.get("rpc"):
        send += [f"{exchange}:*", f"fanout:{exchange}:*"]
    if entry.get("notifications"):
        # where notifications go is each service's own choice (its exchange, or a topic
        # set in its config): any exchange, notifications only
        send.append("notify:*:*")
    return {"listen": " ".join(listen), "send": " ".join(send)}


class FilterModule:
    def filters(self):
        return {"oslo_messaging_zmq_acl": oslo_messaging_zmq_acl}
