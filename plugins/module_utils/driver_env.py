# Copyright: contributors to the zeromq.openstack collection
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""What a service's Python environment must offer the ZeroMQ driver, and what is missing.

The module zeromq.openstack.zmq_driver_check gathers the facts with a helper run in the
service's own interpreter; this file judges them (no I/O, unit tested).
"""

from __future__ import annotations

import re

# What the helper reports, by the names the floors use.
PACKAGES = ("oslo.messaging", "pyzmq")


def version_tuple(text: str | None) -> tuple[int, ...] | None:
    """The leading numeric release of a version ('16.1.0' -> (16, 1, 0), '26.4.0rc1' ->
    (26, 4, 0)); None when there is none."""
    if not text:
        return None
    match = re.match(r"^\s*v?(\d+(?:\.\d+)*)", str(text))
    if not match:
        return None
    return tuple(int(part) for part in match.group(1).split("."))


def at_least(found: str | None, floor: str) -> bool:
    """Whether version FOUND is FLOOR or later (missing parts count as 0)."""
    have, need = version_tuple(found), version_tuple(floor)
    if have is None or need is None:
        return False
    width = max(len(have), len(need))
    return have + (0,) * (width - len(have)) >= need + (0,) * (width - len(need))


def problems(facts: dict, floors: dict, require_driver: bool) -> list[str]:
    """What keeps the driver from working in the environment the helper described.

    FACTS: python_version, packages {name: version or None}, driver_import_error,
    entry_point, entry_point_error. FLOORS: {"python": "3.11", "oslo.messaging": "16.1", ...}.
    Before the install (REQUIRE_DRIVER false) a missing pyzmq is fine: the libzmq role adds it.
    """
    out = []
    python = facts.get("python_version")
    if floors.get("python") and not at_least(python, floors["python"]):
        out.append(f"Python {python} is older than the driver's floor {floors['python']}")
    packages = facts.get("packages") or {}
    for name in PACKAGES:
        floor = floors.get(name)
        version = packages.get(name)
        if version is None:
            if name == "oslo.messaging" or require_driver:
                out.append(f"{name} is not importable")
            continue
        if floor and not at_least(version, floor):
            out.append(f"{name} {version} is older than the driver's floor {floor}")
    if require_driver:
        if facts.get("driver_import_error"):
            out.append(f"import oslo_messaging_zmq fails: {facts['driver_import_error']}")
        if not facts.get("entry_point"):
            detail = facts.get("entry_point_error") or "not registered"
            out.append(f"the entry point oslo.messaging.drivers: zmq does not resolve: {detail}")
    return out
