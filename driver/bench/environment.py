"""What the result files say about where they were measured."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def machine() -> str:
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{os.cpu_count()} cores, {mem_gb:.0f} GB, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}"
    )


def _dist(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def driver_revision() -> str:
    """Last commit that touched the driver code, '+dirty' when its working tree differs."""
    here = os.path.dirname(os.path.abspath(__file__))
    pkg = os.path.join(os.path.dirname(here), "oslo_messaging_zmq")

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", here, *args], capture_output=True, text=True, check=False
        ).stdout.strip()

    rev = git("log", "-1", "--format=%h", "--", pkg) or "unknown"
    return rev + ("+dirty" if git("status", "--porcelain", "--", pkg) else "")


def versions() -> str:
    import zmq

    rabbit = subprocess.run(
        ["dpkg-query", "-W", "-f=${Version}", "rabbitmq-server"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return (
        f"oslo.messaging {_dist('oslo.messaging')}, oslo.messaging.zmq "
        f"{_dist('oslo.messaging.zmq')} (git {driver_revision()}), "
        f"pyzmq {zmq.pyzmq_version()}, libzmq {zmq.zmq_version()}, "
        f"rabbitmq-server {rabbit or 'not installed'}"
    )


def run_meta(started: str, load_before: str) -> dict[str, str]:
    """The head of a result file's meta: when, where, the load around it, versions."""
    return {
        "started": started,
        "machine": machine(),
        "load_before": load_before,
        "load_after": loadavg(),
        "versions": versions() + f", eventlet {_dist('eventlet')}",
    }
