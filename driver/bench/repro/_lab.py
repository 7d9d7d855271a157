"""What both reproducers share: two CURVE proxies from the functional tests' harness
(tests/functional/harness.py), a transport URL, a record file read back as a list."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "functional"))

import harness  # noqa: E402

_made: list[str] = []  # temporary files and directories, removed by stop()


def start() -> tuple[list, str]:
    keys = harness.make_keys()
    proxies = [harness.ProxyProcess(keys).start() for _ in range(2)]
    _made.extend([keys.directory, *(p.workdir for p in proxies)])
    return proxies, harness.transport_url(proxies, keys)


def stop(proxies: list) -> None:
    """Stop the proxies and remove what start() and record_path() made."""
    for proxy in proxies:
        proxy.stop()
    for path in _made:
        if os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
        elif os.path.exists(path):
            os.unlink(path)


def record_path() -> str:
    fd, path = tempfile.mkstemp(prefix="repro-exec-")
    os.close(fd)
    _made.append(path)
    return path


def executed(path: str) -> list[str]:
    with open(path) as handle:
        return handle.read().split()


def counters(proxies: list) -> list[dict]:
    keys = ("routed", "held", "delivered_from_hold", "dropped", "expired")
    return [{k: p.metrics()["counters"][k] for k in keys} for p in proxies]
