# Copyright: contributors to the zeromq.openstack collection
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Filters of the post-change probe: which services an RPC call may test now."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError


def _awaiting(entry: dict, pending_units: list) -> bool:
    return any(unit in pending_units for unit in entry.get("units") or [])


def oslo_messaging_zmq_probes(active: list, pending_units: list, restarted: bool) -> list:
    """The service entries to probe with an RPC call after the change.

    Only services with RPC and a ping topic answer a probe. When the role did not restart
    (RESTARTED false, oslo_messaging_zmq_restart off), a service with a unit in PENDING_UNITS
    still runs its old config or code: a call over the newly rendered transport would test
    something that is not running, so it is left out (oslo_messaging_zmq_awaiting_restart names it).
    """
    if not isinstance(active, list) or not isinstance(pending_units, list):
        raise AnsibleFilterError("oslo_messaging_zmq_probes: expects lists of entries and units")
    return [
        entry
        for entry in active
        if entry.get("rpc")
        and entry.get("ping_topic")
        and (restarted or not _awaiting(entry, pending_units))
    ]


def oslo_messaging_zmq_awaiting_restart(active: list, pending_units: list) -> list:
    """Names of the services with a unit whose restart is pending."""
    return [entry["name"] for entry in active if _awaiting(entry, pending_units)]


class FilterModule:
    def filters(self):
        return {
            "oslo_messaging_zmq_probes": oslo_messaging_zmq_probes,
            "oslo_messaging_zmq_awaiting_restart": oslo_messaging_zmq_awaiting_restart,
        }
