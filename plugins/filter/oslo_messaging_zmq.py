# Copyright: contributors to the zeromq.openstack collection
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Filters of the oslo_messaging_zmq role: service entries, transport URLs, play tiers.

The role's vars/main.yml only wires these together (one oslo_messaging_zmq_plan call, one
oslo_messaging_zmq_plan_urls call); everything that builds a value from inventory data lives here
and is unit tested (tests/unit/plugins/modules/test_oslo_messaging_zmq_filters.py).
"""

from __future__ import annotations

import ipaddress
import posixpath
import re
import tomllib
from collections.abc import Iterable, Mapping
from urllib.parse import quote

from ansible.errors import AnsibleFilterError

TRANSPORTS = ("zmq", "rabbit")
# Keys of a service entry that are secrets: never copied into the entries the tasks loop over
# (a failed task prints its loop item).
SECRET_KEYS = ("rabbit_password",)
# Keys of a service entry the role knows; anything else is a likely misspelling.
ENTRY_KEYS = frozenset(
    {
        "config_files",
        "python",
        "units",
        "group",
        "user",
        "rpc",
        "notifications",
        "rpc_transport",
        "notify_transport",
        "ping_topic",
        "ping_exchange",
        "rabbit_userid",
        "rabbit_password",
        "rabbit_vhost",
        "cells",
        "nova_manage",
    }
)


def _host(address: str) -> str:
    """An address as it goes into a URL's netloc: IPv6 literals in brackets."""
    address = str(address).strip()
    if address.startswith("["):
        return address
    try:
        if ipaddress.ip_address(address).version == 6:
            return f"[{address}]"
    except ValueError:
        pass
    return address


def _port(port) -> int:
    try:
        value = int(port)
    except (TypeError, ValueError):
        raise AnsibleFilterError(f"port {port!r} is not a number") from None
    if not 0 < value < 65536:
        raise AnsibleFilterError(f"port {value} is out of range")
    return value


def _require_hosts(hosts, what: str) -> list[str]:
    if isinstance(hosts, (str, bytes)) or not isinstance(hosts, Iterable):
        raise AnsibleFilterError(f"{what}: expected a list of hosts, got {hosts!r}")
    hosts = [str(h) for h in hosts if str(h).strip()]
    if not hosts:
        raise AnsibleFilterError(f"{what}: no hosts")
    return hosts


def zmq_transport_url(hosts: list[str], port) -> str:
    """zmq://PROXY:PORT/, or zmq://zmq@PROXY1:PORT,zmq@PROXY2:PORT/ for several proxies.

    The proxies keep the given order (IPv6 addresses in brackets). With several proxies each
    host carries a user part, which the driver ignores: Python's urlparse then reads the port
    after the last "@" (one host's), so code that parses a service's transport_url with it,
    such as nova's cell mapping formatting, gets a port instead of a ValueError.
    """
    hosts = _require_hosts(hosts, "zmq_transport_url")
    port = _port(port)
    user = "zmq@" if len(hosts) > 1 else ""
    return "zmq://" + ",".join(f"{user}{_host(h)}:{port}" for h in hosts) + "/"


def _vhost_path(vhost) -> str:
    """The URL path naming a RabbitMQ virtual host exactly (oslo.messaging unquotes it).

    The default vhost "/" is an empty path; any other name is percent-encoded whole, so
    "/nova" stays "/nova" (path "/%2Fnova") and "nova" stays "nova".
    """
    vhost = "/" if vhost is None else str(vhost)
    if vhost in ("", "/"):
        return "/"
    return "/" + quote(vhost, safe="")


def rabbit_transport_url(hosts: list[str], port, userid: str, password: str, vhost="/") -> str:
    """rabbit://USER:PASSWORD@HOST:PORT,.../VHOST with user and password percent-encoded.

    Each host repeats the credentials, as oslo.messaging's multi-host URLs require.
    """
    hosts = _require_hosts(hosts, "rabbit_transport_url")
    port = _port(port)
    if not userid:
        raise AnsibleFilterError("rabbit_transport_url: empty user id")
    creds = quote(str(userid), safe="") + ":" + quote(str(password or ""), safe="")
    netloc = ",".join(f"{creds}@{_host(h)}:{port}" for h in hosts)
    return f"rabbit://{netloc}{_vhost_path(vhost)}"


def oslo_messaging_zmq_addresses(names: list[str], hostvars: Mapping, keys: list[str]) -> list:
    """For each inventory host name, the first of KEYS its hostvars define, else the name."""
    out = []
    for name in names or []:
        host = hostvars.get(name, {}) if hasattr(hostvars, "get") else {}
        value = next((host[k] for k in keys if k in host and host[k] not in (None, "")), None)
        out.append(str(value) if value is not None else str(name))
    return out


def _given(entry: Mapping, key: str):
    """An entry's value for KEY, or None when absent, null or empty."""
    value = entry.get(key)
    return None if value is None or value == "" else value


def oslo_messaging_zmq_entries(
    services: Mapping,
    traits: Mapping,
    default_traits: Mapping,
    rpc_transport: str,
    notify_transport: str,
) -> dict[str, dict]:
    """Each service entry over its built-in traits over the role's transports (layer 2).

    Adds the computed keys ``active`` (uses messaging at all), ``uses_zmq``, ``uses_rabbit``,
    ``user`` (defaults to the entry's group) and ``nova_manage`` (next to the interpreter);
    drops the secrets (SECRET_KEYS), which only oslo_messaging_zmq_urls reads.
    """
    if not isinstance(services, Mapping):
        raise AnsibleFilterError("oslo_messaging_zmq_services must be a dictionary")
    out = {}
    for name, entry in services.items():
        entry = dict(entry) if isinstance(entry, Mapping) else {}
        merged = {
            "name": name,
            "units": [],
            "group": "root",
            "ping_topic": "",
            "ping_exchange": "",
            "rpc_transport": rpc_transport,
            "notify_transport": notify_transport,
            "cells": False,
        }
        merged.update(traits.get(name, default_traits))
        merged.update({k: v for k, v in entry.items() if k not in SECRET_KEYS})
        merged["rpc"] = bool(merged.get("rpc"))
        merged["notifications"] = bool(merged.get("notifications"))
        merged["cells"] = bool(merged.get("cells"))
        merged["user"] = _given(entry, "user") or merged["group"]
        python = str(merged.get("python") or "")
        merged["nova_manage"] = _given(entry, "nova_manage") or posixpath.join(
            posixpath.dirname(python), "nova-manage"
        )
        used = []
        if merged["rpc"]:
            used.append(merged["rpc_transport"])
        if merged["notifications"]:
            used.append(merged["notify_transport"])
        merged["active"] = bool(used)
        merged["uses_zmq"] = "zmq" in used
        merged["uses_rabbit"] = "rabbit" in used
        out[name] = merged
    return out


def oslo_messaging_zmq_urls(
    entries: Mapping, services: Mapping, zmq_url: str, rabbit: Mapping
) -> dict[str, dict]:
    """Per service, its RPC and notification URLs: {name: {rpc, notify}} (None when unused).

    ENTRIES come from oslo_messaging_zmq_entries; SERVICES are the raw inventory entries, whose
    rabbit_userid / rabbit_password / rabbit_vhost override RABBIT's userid / password / vhost
    (RABBIT also holds hosts and port). A rabbit URL is only built for a service that uses it.
    """
    out = {}
    for name, entry in entries.items():
        raw = services.get(name) or {}
        urls = {}
        for kind, flag, transport in (
            ("rpc", "rpc", entry["rpc_transport"]),
            ("notify", "notifications", entry["notify_transport"]),
        ):
            if not entry.get(flag):
                urls[kind] = None
            elif transport == "zmq":
                urls[kind] = zmq_url
            elif transport == "rabbit":
                urls[kind] = rabbit_transport_url(
                    rabbit["hosts"],
                    rabbit["port"],
                    _given(raw, "rabbit_userid") or rabbit["userid"],
                    _given(raw, "rabbit_password") or rabbit["password"],
                    _given(raw, "rabbit_vhost") or rabbit.get("vhost", "/"),
                )
            else:
                raise AnsibleFilterError(f"service {name}: unknown transport {transport!r}")
        out[name] = urls
    return out


def oslo_messaging_zmq_plan(
    services: Mapping,
    *,
    traits: Mapping,
    default_traits: Mapping,
    rpc_transport: str,
    notify_transport: str,
    security_mode: str,
    proxy_addresses: list[str],
    proxy_port,
) -> dict:
    """What the role does on a host, computed once from its inputs; it holds no secret.

    SERVICES are the raw inventory entries, TRAITS / DEFAULT_TRAITS the role's tables, the
    transports and SECURITY_MODE the role's variables, PROXY_ADDRESSES the proxies' addresses in
    the proxy group's order (hostvars stay with the caller). The keys:

    - ``entries``: {name: entry} of every listed service (oslo_messaging_zmq_entries, no secrets);
    - ``active``: the entries of the services that use messaging at all, in the services' order;
    - ``on_zmq`` / ``on_rabbit``: the active entries with RPC or notifications on that transport;
    - ``curve``: CURVE keys are needed (security_mode curve and a service on ZeroMQ);
    - ``zmq_url``: the proxies' transport URL, "" when there are no proxies;
    - ``pythons``: the active services' interpreters, each once, in first-seen order.
    """
    entries = oslo_messaging_zmq_entries(
        services, traits, default_traits, rpc_transport, notify_transport
    )
    active = [entry for entry in entries.values() if entry["active"]]
    on_zmq = [entry for entry in active if entry["uses_zmq"]]
    addresses = list(proxy_addresses or [])
    return {
        "entries": entries,
        "active": active,
        "on_zmq": on_zmq,
        "on_rabbit": [entry for entry in active if entry["uses_rabbit"]],
        "curve": security_mode == "curve" and bool(on_zmq),
        "zmq_url": zmq_transport_url(addresses, proxy_port) if addresses else "",
        "pythons": [p for p in dict.fromkeys(entry.get("python") for entry in active) if p],
    }


def oslo_messaging_zmq_plan_urls(
    plan: Mapping,
    services: Mapping,
    *,
    rabbit_addresses: list[str],
    rabbit_port,
    rabbit_userid: str,
    rabbit_password: str,
    rabbit_vhost="/",
) -> dict[str, dict]:
    """Per service of PLAN (oslo_messaging_zmq_plan), its RPC and notification URLs.

    {name: {rpc, notify}} as oslo_messaging_zmq_urls makes them: the plan's zmq_url, or a
    RabbitMQ URL on RABBIT_ADDRESSES with the entry's credentials over the RABBIT_* ones. A
    RabbitMQ URL holds a password: only no_log consumers may read the result.
    """
    rabbit = {
        "hosts": list(rabbit_addresses or []),
        "port": rabbit_port,
        "userid": rabbit_userid,
        "password": rabbit_password,
        "vhost": rabbit_vhost,
    }
    return oslo_messaging_zmq_urls(plan["entries"], services, plan["zmq_url"], rabbit)


def _is_abs_list(value) -> bool:
    return (
        isinstance(value, list)
        and len(value) > 0
        and all(isinstance(p, str) and p.startswith("/") for p in value)
    )


def _entry_shape_problems(name: str, entry) -> list[str]:
    where = f"oslo_messaging_zmq_services.{name}"
    if not isinstance(entry, Mapping):
        return [f"{where} must be a dictionary"]
    problems = []
    unknown = sorted(set(entry) - ENTRY_KEYS)
    if unknown:
        problems.append(f"{where} has unknown key(s) {', '.join(unknown)} (misspelled?)")
    if not _is_abs_list(entry.get("config_files")):
        problems.append(f"{where} needs config_files (a non-empty list of absolute paths)")
    python = entry.get("python")
    if not (isinstance(python, str) and python.startswith("/")):
        problems.append(f"{where} needs python (the absolute path of the service's interpreter)")
    units = entry.get("units", [])
    if not isinstance(units, list) or not all(isinstance(u, str) for u in units):
        problems.append(f"{where}.units must be a list of unit names")
    for key in ("rpc_transport", "notify_transport"):
        if key in entry and entry[key] not in TRANSPORTS:
            problems.append(
                f"{where}.{key} is {entry[key]!r}; it must be one of {', '.join(TRANSPORTS)}"
            )
    for key in ("rpc", "notifications", "cells"):
        if key in entry and not isinstance(entry[key], bool):
            problems.append(f"{where}.{key} must be true or false")
    for key in ("rabbit_userid", "rabbit_vhost", "rabbit_password", "user", "nova_manage"):
        if key in entry and entry[key] is not None and not isinstance(entry[key], str):
            problems.append(f"{where}.{key} must be a string")
    if entry.get("cells") and name != "nova":
        problems.append(f"{where}.cells applies to nova only")
    return problems


def oslo_messaging_zmq_entry_problems(
    services,
    traits: Mapping,
    default_traits: Mapping,
    rpc_transport: str,
    notify_transport: str,
    global_password: str = "",
) -> list[str]:
    """What is wrong with the service entries, one sentence each naming service and key.

    Never quotes a value, so no secret reaches a failure message.
    """
    if not isinstance(services, Mapping):
        return ["oslo_messaging_zmq_services must be a dictionary of service entries"]
    problems = []
    for name, entry in services.items():
        shape = _entry_shape_problems(name, entry)
        problems.extend(shape)
        if shape:
            continue
        merged = oslo_messaging_zmq_entries(
            {name: entry}, traits, default_traits, rpc_transport, notify_transport
        )[name]
        if not merged["uses_rabbit"]:
            continue
        where = f"oslo_messaging_zmq_services.{name}"
        own = _given(entry, "rabbit_password")
        if not (own or global_password):
            problems.append(
                f"{where} uses the rabbit transport but has no RabbitMQ password: set "
                f"{where}.rabbit_password or oslo_messaging_zmq_rabbit_password "
                "(oslomsg_rpc_password)"
            )
        elif "/" in str(own or global_password):
            source = f"{where}.rabbit_password" if own else "oslo_messaging_zmq_rabbit_password"
            problems.append(
                f"{where} uses the rabbit transport with a RabbitMQ password ({source}) that "
                "contains '/': oslo.messaging's rabbit driver hands it to kombu quoted with '/' "
                "left as is, the URL does not parse and the service fails at start; give that "
                "RabbitMQ user a password without '/'"
            )
    return problems


def oslo_messaging_zmq_tier(group_names: list[str], tiers: list[list]) -> str:
    """The first tier whose inventory group the host is in: TIERS is [[tier, group], ...].

    A host in none of them gets the last tier's name (the batches of computes).
    """
    if not tiers:
        raise AnsibleFilterError("oslo_messaging_zmq_tier: no tiers")
    names = set(group_names or [])
    for tier, group in tiers:
        if group in names:
            return str(tier)
    return str(tiers[-1][0])


_FLOOR = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*(.*)$")


def _floor(spec: str) -> str | None:
    """The version of a '>=' clause in a PEP 440 specifier list, if any."""
    for clause in spec.split(","):
        clause = clause.strip()
        if clause.startswith(">="):
            return clause[2:].strip()
    return None


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def oslo_messaging_zmq_floors(pyproject: str, names: list[str]) -> dict[str, str]:
    """From the driver's pyproject.toml text: the '>=' floors of Python and of NAMES.

    {"python": "3.11", "oslo.messaging": "18.3", ...}; a name without a '>=' floor is left out.
    """
    try:
        project = tomllib.loads(pyproject)["project"]
    except (tomllib.TOMLDecodeError, KeyError, TypeError) as exc:
        raise AnsibleFilterError(f"oslo_messaging_zmq_floors: not a pyproject.toml: {exc}") from exc
    floors = {}
    python = _floor(project.get("requires-python", ""))
    if python:
        floors["python"] = python
    wanted = {_canonical(n): n for n in names}
    for requirement in project.get("dependencies", []):
        match = _FLOOR.match(requirement.split(";")[0])
        if not match:
            continue
        name, spec = match.groups()
        if _canonical(name) in wanted:
            version = _floor(spec)
            if version:
                floors[wanted[_canonical(name)]] = version
    return floors


class FilterModule:
    def filters(self):
        return {
            "zmq_transport_url": zmq_transport_url,
            "rabbit_transport_url": rabbit_transport_url,
            "oslo_messaging_zmq_addresses": oslo_messaging_zmq_addresses,
            "oslo_messaging_zmq_entries": oslo_messaging_zmq_entries,
            "oslo_messaging_zmq_urls": oslo_messaging_zmq_urls,
            "oslo_messaging_zmq_plan": oslo_messaging_zmq_plan,
            "oslo_messaging_zmq_plan_urls": oslo_messaging_zmq_plan_urls,
            "oslo_messaging_zmq_entry_problems": oslo_messaging_zmq_entry_problems,
            "oslo_messaging_zmq_tier": oslo_messaging_zmq_tier,
            "oslo_messaging_zmq_floors": oslo_messaging_zmq_floors,
        }
