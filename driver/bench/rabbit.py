"""RabbitMQ for the bench: install Debian's package if needed, run a private
node in a temporary directory on 127.0.0.1, stop it and leave nothing behind.

Why a private node and not the system service: this machine kind has no
running systemd, and a private node (own node name, ports, epmd, data dir)
cannot collide with anything else on the host.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from netutil import LOOPBACK, free_port, wait_for_port

RABBIT_BIN = Path("/usr/lib/rabbitmq/bin")
# The Erlang VM's schedulers spin for a while before they sleep (busy wait, on by
# default): on a dedicated broker host that buys latency, on a machine shared with
# the clients it takes their CPU. RabbitMQ's docs give these flags for shared hosts.
NO_BUSY_WAIT = "+sbwt none +sbwtdcpu none +sbwtdio none"
POLICY_RC_D = Path("/usr/sbin/policy-rc.d")
POLICY_DENY = "#!/bin/sh\n# written by driver/bench: no service start during install\nexit 101\n"


def _run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, check=True, text=True, **kwargs)  # type: ignore[call-overload]


def ensure_installed(log: callable) -> None:  # type: ignore[valid-type]
    """Install rabbitmq-server with apt-get unless present; never start or enable it."""
    if (RABBIT_BIN / "rabbitmq-server").exists():
        return
    log("rabbitmq-server not installed: apt-get install (a minute or two)")
    wrote_policy = False
    if not POLICY_RC_D.exists():
        # Debian starts a service from its postinst unless policy-rc.d says no.
        POLICY_RC_D.write_text(POLICY_DENY)
        POLICY_RC_D.chmod(0o755)
        wrote_policy = True
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    try:
        _run(["apt-get", "update", "-qq"], env=env, stdout=subprocess.DEVNULL)
        _run(
            ["apt-get", "install", "-y", "-qq", "rabbitmq-server"],
            env=env,
            stdout=subprocess.DEVNULL,
        )
    finally:
        if wrote_policy:
            POLICY_RC_D.unlink()
    # The package enables the unit for boot; the bench wants it off.
    for unit in ("rabbitmq-server", "epmd.socket", "epmd.service"):
        subprocess.run(
            ["systemctl", "disable", unit],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        )
    subprocess.run(
        ["update-rc.d", "rabbitmq-server", "disable"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )


class RabbitNode:
    """A throw-away RabbitMQ node bound to 127.0.0.1 (context manager)."""

    def __init__(self, log: callable, erl_args: str = "") -> None:  # type: ignore[valid-type]
        self._log = log
        self._erl_args = erl_args
        self.tmp = Path(tempfile.mkdtemp(prefix="bench-rabbit-"))
        self.port = free_port()
        self.epmd_port = free_port()
        self.node = f"bench{os.getpid()}@localhost"
        self._proc: subprocess.Popen[bytes] | None = None
        self._env = self._make_env()

    @property
    def pid(self) -> int | None:
        """The Erlang VM's (beam.smp) pid, from the node's pid file."""
        try:
            return int((self.tmp / "rabbit.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    @property
    def url(self) -> str:
        return f"rabbit://guest:guest@{LOOPBACK}:{self.port}/"

    def _make_env(self) -> dict[str, str]:
        conf = self.tmp / "rabbitmq.conf"
        conf.write_text(
            f"listeners.tcp.1 = {LOOPBACK}:{self.port}\n"
            "log.console = false\n"
            "log.file.level = warning\n"
        )
        (self.tmp / "enabled_plugins").write_text("[].\n")
        only_loopback = "-kernel inet_dist_use_interface {127,0,0,1}"
        env = {
            "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
            "HOME": str(self.tmp),  # the Erlang cookie lives here
            "LANG": "C.UTF-8",
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": LOOPBACK,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(free_port()),
            "RABBITMQ_CONFIG_FILE": str(conf),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.tmp / "enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": str(self.tmp / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.tmp / "log"),
            "RABBITMQ_PID_FILE": str(self.tmp / "rabbit.pid"),
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": f"{only_loopback} {self._erl_args}".strip(),
            "RABBITMQ_CTL_ERL_ARGS": only_loopback,
            "ERL_EPMD_ADDRESS": LOOPBACK,
            "ERL_EPMD_PORT": str(self.epmd_port),
        }
        return env

    def _ctl(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(RABBIT_BIN / "rabbitmqctl"), "-n", self.node, *args],
            env=self._env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def queues(self) -> dict[str, int]:
        """Queue name -> number of consumers ({} when rabbitmqctl fails)."""
        res = self._ctl(
            "list_queues", "--quiet", "--no-table-headers", "name", "consumers", timeout=30
        )
        out: dict[str, int] = {}
        if res.returncode != 0:
            return out
        for line in res.stdout.splitlines():
            name, _, consumers = line.rpartition("\t")
            if name and consumers.isdigit():
                out[name] = int(consumers)
        return out

    def start(self) -> None:
        out = open(self.tmp / "server.out", "wb")  # noqa: SIM115 - lives with the node
        self._proc = subprocess.Popen(
            [str(RABBIT_BIN / "rabbitmq-server")],
            env=self._env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        # await_startup fails at once until the node has registered with epmd.
        deadline = time.monotonic() + 120
        res = None
        while time.monotonic() < deadline and self._proc.poll() is None:
            res = self._ctl("await_startup", "--timeout", "60", timeout=70)
            if res.returncode == 0:
                break
            time.sleep(1)
        if res is None or res.returncode != 0 or not wait_for_port(self.port, 10):
            tail = (self.tmp / "server.out").read_text(errors="replace")[-2000:]
            err = res.stderr[-1000:] if res else ""
            self.stop()
            raise RuntimeError(f"rabbitmq did not start: {err}\n{tail}")

    def stop(self) -> None:
        if self._proc is not None:
            if self._proc.poll() is None:
                self._ctl("shutdown", timeout=60)
            try:
                self._proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None
        # Our private epmd (own port) outlives the node; stop it by its port.
        epmd = shutil.which("epmd") or "/usr/bin/epmd"
        if Path(epmd).exists():
            subprocess.run(
                [epmd, "-kill"],
                env=self._env,
                capture_output=True,
                check=False,
                timeout=10,
            )
        time.sleep(0.2)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> RabbitNode:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
