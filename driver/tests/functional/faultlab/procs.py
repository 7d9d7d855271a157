"""Child processes of the lab: spawn, wait for their ready line, signal, kill.

Every child runs ``python -m faultlab.<module>`` in its own session (process
group) with PYTHONPATH pinned to the driver this process imported, so the
proxies, servers and clients all run the same copy of the driver.
"""

from __future__ import annotations

import importlib.util
import os
import select
import signal
import subprocess
import sys
import time

FUNCTIONAL_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def driver_root() -> str:
    """The directory holding the oslo_messaging_zmq package this process imports."""
    spec = importlib.util.find_spec("oslo_messaging_zmq")
    if spec is None or spec.origin is None:
        raise RuntimeError("oslo_messaging_zmq is not importable")
    return os.path.dirname(os.path.dirname(os.path.abspath(spec.origin)))


def pin_pythonpath() -> str:
    """Put this driver and the functional tests first on PYTHONPATH of every child.

    The proxies are started by harness.ProxyProcess, which inherits os.environ,
    so the variable is set for this process too.  Returns the driver root.
    """
    root = driver_root()
    parts = [root, FUNCTIONAL_DIR]
    parts += [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p not in parts]
    os.environ["PYTHONPATH"] = os.pathsep.join(parts)
    return root


class Child:
    """One ``python -m faultlab.MODULE ARGS`` process; stderr goes to log_path."""

    def __init__(self, name: str, module: str, args: list[str], log_path: str) -> None:
        self.name = name
        self.module = module
        self.args = args
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None
        self.ready_info = ""
        self.spawned_at = 0.0
        self.ready_at: float | None = None
        self.ended_at: float | None = None

    def spawn(self) -> Child:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "faultlab." + self.module, *self.args],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,
                bufsize=0,
                start_new_session=True,
            )
        self.spawned_at = time.monotonic()
        return self

    def wait_ready(self, timeout: float = 30.0) -> str:
        """Read the child's first stdout line, which must start with 'ready'."""
        assert self.proc is not None and self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        data = b""
        deadline = time.monotonic() + timeout
        while b"\n" not in data:
            left = deadline - time.monotonic()
            if left <= 0:
                self.kill()
                raise RuntimeError(
                    f"{self.name} not ready within {timeout:.0f} s, see {self.log_path}"
                )
            readable, _w, _x = select.select([fd], [], [], min(left, 0.5))
            if readable:
                chunk = os.read(fd, 4096)
                if not chunk:
                    self.kill()
                    raise RuntimeError(f"{self.name} exited before ready, see {self.log_path}")
                data += chunk
        line = data.split(b"\n", 1)[0].decode(errors="replace").strip()
        if not line.startswith("ready"):
            self.kill()
            raise RuntimeError(f"{self.name} said {line!r} instead of ready, see {self.log_path}")
        self.ready_at = time.monotonic()
        self.ready_info = line[len("ready") :].strip()
        return self.ready_info

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def signal(self, sig: int) -> None:
        if self.alive():
            self.proc.send_signal(sig)

    def wait(self, timeout: float) -> int | None:
        """Exit status, or None if still running after timeout."""
        if self.proc is None:
            return None
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        if self.ended_at is None:
            self.ended_at = time.monotonic()
        return code

    def kill(self) -> None:
        """SIGKILL the child's whole process group and reap it."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
        if self.ended_at is None:
            self.ended_at = time.monotonic()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
