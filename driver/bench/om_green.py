"""Imported first by the oslo.messaging workers: with --eventlet on the command
line, monkey-patch the process before anything else is imported, as the
simulator and eventlet-based services do. Without it, does nothing."""

from __future__ import annotations

import sys

GREEN = "--eventlet" in sys.argv

if GREEN:
    import eventlet

    eventlet.monkey_patch()


def executor() -> str:
    """The oslo.messaging executor matching the process model."""
    return "eventlet" if GREEN else "threading"
