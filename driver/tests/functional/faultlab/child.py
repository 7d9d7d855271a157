"""Child-side plumbing shared by server_proc and client_proc.

install(): the child stops by itself: Linux PR_SET_PDEATHSIG kills it when
the lab process dies (even by SIGKILL), and a watchdog ends it after a hard
lifetime.  setup_logging(): driver log lines with wall-clock time on stderr
(the lab's log file of that child).  ready(): the ``ready <driver file> <mode>``
line the lab waits for, so it can check every child imports the same driver and
runs in the mode asked for (mode: ``green`` under eventlet, else ``threads``).
"""

from __future__ import annotations

import ctypes
import importlib.util
import logging
import os
import signal
import threading
import time
import warnings

_PR_SET_PDEATHSIG = 1


def install(lifetime: float, parent: int | None = None) -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):
        pass
    if parent is not None and os.getppid() != parent:
        os._exit(5)  # the lab is already gone

    def _watchdog() -> None:
        time.sleep(lifetime)
        os._exit(4)

    threading.Thread(target=_watchdog, name="lifetime", daemon=True).start()


def setup_logging() -> None:
    """INFO; the driver's DEBUG lines too with FAULTLAB_DEBUG=1 (message ids, verdicts)."""
    warnings.simplefilter("ignore", DeprecationWarning)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s",
    )
    if os.environ.get("FAULTLAB_DEBUG") == "1":
        logging.getLogger("oslo_messaging_zmq").setLevel(logging.DEBUG)


def green() -> bool:
    """Whether eventlet monkey-patched this process's threads."""
    try:
        from eventlet import patcher
    except ImportError:
        return False
    return patcher.is_monkey_patched("thread")


def ready() -> None:
    spec = importlib.util.find_spec("oslo_messaging_zmq")
    origin = spec.origin if spec is not None else "?"
    os.write(1, f"ready {origin} {'green' if green() else 'threads'}\n".encode())
