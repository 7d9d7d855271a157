# Copyright: contributors to the zeromq.openstack collection
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Which client keys in the proxies' allowed_clients directory nobody should hold any more.

The services role writes one key file per host and service, ``<inventory host>-<service>.key``.
Host names may contain ``-``, so a file belongs to the longest inventory host name it starts
with followed by ``-``; a file that no inventory host owns was left by a host that is gone.
"""

from __future__ import annotations

import fnmatch
import os

from ansible.errors import AnsibleFilterError

SUFFIX = ".key"


def key_owner(file_name: str, hosts: list[str]) -> tuple[str, str] | None:
    """(host, service) of FILE_NAME by the inventory HOSTS, or None when no host owns it."""
    if not file_name.endswith(SUFFIX):
        return None
    stem = file_name[: -len(SUFFIX)]
    owners = [h for h in hosts if stem.startswith(h + "-") and len(stem) > len(h) + 1]
    if not owners:
        return None
    host = max(owners, key=len)
    return host, stem[len(host) + 1 :]


def stale_paths(
    paths: list[str],
    hosts: list[str],
    host: str | None = None,
    services: list[str] | None = None,
    keep: list[str] | None = None,
) -> list[str]:
    """The key files among PATHS to remove.

    Without HOST (the proxies' own pruning): files no inventory host owns. With HOST (a services
    host withdrawing its own keys): HOST's files for services not in SERVICES. A file name that
    matches a glob of KEEP (keys managed outside this collection) is never stale.
    """
    stale = []
    for path in paths:
        name = os.path.basename(path)
        if not name.endswith(SUFFIX) or any(fnmatch.fnmatchcase(name, g) for g in keep or []):
            continue
        owner = key_owner(name, hosts)
        if host is None:
            if owner is None:
                stale.append(path)
        elif owner is not None and owner[0] == host and owner[1] not in (services or []):
            stale.append(path)
    return stale


def zmq_stale_client_keys(found, hosts, host=None, services=None, keep=None):
    """Stale key files in FOUND, a find result (paths) or a loop of delegated finds ([item, path]).

    See stale_paths for HOSTS, HOST, SERVICES and KEEP.
    """
    if not isinstance(hosts, list) or not all(isinstance(h, str) for h in hosts):
        raise AnsibleFilterError("zmq_stale_client_keys: hosts must be a list of inventory names")

    def paths_of(result):
        files = result.get("files")
        if not isinstance(files, list):
            raise AnsibleFilterError("zmq_stale_client_keys: expects ansible.builtin.find results")
        return [f["path"] for f in files]

    if not isinstance(found, dict):
        raise AnsibleFilterError("zmq_stale_client_keys: expects ansible.builtin.find results")
    if "results" in found:
        return [
            [result["item"], path]
            for result in found["results"]
            if not result.get("skipped")
            for path in stale_paths(paths_of(result), hosts, host, services, keep)
        ]
    if found.get("skipped"):
        return []
    return stale_paths(paths_of(found), hosts, host, services, keep)


class FilterModule:
    def filters(self):
        return {"zmq_stale_client_keys": zmq_stale_client_keys}
