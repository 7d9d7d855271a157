"""The line protocol between run.py and its worker processes.

A worker reads one JSON object per line on stdin and answers one JSON object
per line on its real stdout. Everything else a worker (or a library it uses)
prints goes to stderr, so a stray print can never corrupt the protocol.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable
from typing import Any, TextIO

Handler = Callable[[dict[str, Any]], dict[str, Any]]


def claim_stdout() -> TextIO:
    """Keep the real stdout for the protocol and point fd 1 at stderr."""
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return proto


def setup_logging(level: str = "WARNING") -> None:
    logging.basicConfig(
        stream=sys.stderr,
        level=getattr(logging, level),
        format="%(asctime)s %(process)d %(levelname)s %(name)s %(message)s",
    )


def _read_line() -> str:
    if "eventlet.patcher" in sys.modules:
        from eventlet import patcher, tpool

        if patcher.is_monkey_patched("thread"):
            # a plain read would block the hub and freeze every green thread
            return str(tpool.execute(sys.stdin.readline))
    return sys.stdin.readline()


def serve(proto: TextIO, handler: Handler) -> None:
    """Answer commands until stdin closes or a command returns {'bye': True}."""
    while line := _read_line():
        line = line.strip()
        if not line:
            continue
        try:
            reply = handler(json.loads(line))
        except Exception as exc:  # report, keep serving
            logging.getLogger(__name__).exception("command failed")
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        proto.write(json.dumps(reply) + "\n")
        if reply.get("bye"):
            return


def say(proto: TextIO, obj: dict[str, Any]) -> None:
    proto.write(json.dumps(obj) + "\n")
