# Copyright: contributors to the zeromq.openstack collection
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""One fingerprint of the driver's code, the same for the source the roles ship and for a copy
pip installed: sha256 over the package's modules and the source of its native core
(``oslo_messaging_zmq/*.py``, ``oslo_messaging_zmq/*.c``, installed as package data) by name.

The roles compare it with what each Python environment has, so an environment is reinstalled
when its code differs from the source, whatever else shares the host's source directory.
zmq_driver_check computes the installed side in the service's own interpreter with the same
steps (its helper cannot import this file; a unit test holds the two equal).
"""

from __future__ import annotations

import hashlib

PACKAGE = "oslo_messaging_zmq"


def modules_digest(modules: dict[str, bytes]) -> str:
    """sha256 hex over {module file name: content}, in name order."""
    digest = hashlib.sha256()
    for name in sorted(modules):
        digest.update(name.encode() + b"\0" + modules[name] + b"\0")
    return digest.hexdigest()


def source_digest(files: dict[str, str]) -> str:
    """The digest of a source tree as the source_tree lookup reads it ({relative path: text})."""
    prefix = PACKAGE + "/"
    modules = {
        rel[len(prefix) :]: text.encode("utf-8")
        for rel, text in files.items()
        if rel.startswith(prefix) and rel.endswith((".py", ".c")) and "/" not in rel[len(prefix) :]
    }
    if not modules:
        raise ValueError(f"no {prefix}*.py in the driver source")
    return modules_digest(modules)
