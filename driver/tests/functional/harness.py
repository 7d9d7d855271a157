"""Start and stop real proxy processes on 127.0.0.1 for the functional tests."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

from faultlab import records

from oslo_messaging_zmq import security

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


@dataclass
class Keys:
    directory: str
    server_secret: str
    server_public: str
    client_secret: str
    client_public: str
    allowed_dir: str

    def client_query(self) -> str:
        return "client_secret_key_file=%s&server_public_key_file=%s" % (
            self.client_secret,
            self.server_public,
        )


def make_keys(directory: str | None = None) -> Keys:
    """A proxy key pair, one client key pair and an allowed-clients dir with the client key."""
    directory = directory or tempfile.mkdtemp(prefix="zmq-keys-")
    server_public, server_secret = security.write_key_pair(directory, "proxy")
    client_public, client_secret = security.write_key_pair(directory, "client")
    allowed = os.path.join(directory, "allowed")
    os.makedirs(allowed, exist_ok=True)
    with open(client_public) as src, open(os.path.join(allowed, "client.key"), "w") as dst:
        dst.write(src.read())
    return Keys(directory, server_secret, server_public, client_secret, client_public, allowed)


class ProxyProcess:
    """One oslo-messaging-zmq-proxy subprocess configured through a config file."""

    def __init__(self, keys: Keys | None = None, workdir: str | None = None, **overrides) -> None:
        self.keys = keys
        self.port = overrides.pop("port", None) or free_port()
        self.health_port = overrides.pop("health_port", None) or free_port()
        self.workdir = workdir or tempfile.mkdtemp(prefix="zmq-proxy-")
        self.overrides = overrides
        self.proc: subprocess.Popen | None = None
        self.log_path = os.path.join(self.workdir, "proxy-%d.log" % self.port)

    @property
    def address(self) -> str:
        return "%s:%d" % (LOOPBACK, self.port)

    def _config(self) -> str:
        lines = [
            "[zmq_proxy]",
            "bind_address = %s" % LOOPBACK,
            "port = %d" % self.port,
            "health_address = %s" % LOOPBACK,
            "health_port = %d" % self.health_port,
        ]
        if self.keys is None:
            lines.append("security_mode = plain")
        else:
            lines.append("security_mode = curve")
            lines.append("server_secret_key_file = %s" % self.keys.server_secret)
            lines.append("allowed_clients = %s" % self.keys.allowed_dir)
        for key, value in self.overrides.items():
            lines.append("%s = %s" % (key, value))
        path = os.path.join(self.workdir, "proxy-%d.conf" % self.port)
        with open(path, "w") as handle:
            handle.write("\n".join(lines) + "\n")
        return path

    def command(self, conf: str) -> list[str]:
        return [sys.executable, "-m", "oslo_messaging_zmq.proxy", "--config-file", conf]

    def start(self, timeout: float = 15.0) -> ProxyProcess:
        conf = self._config()
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the subprocess
        self.proc = subprocess.Popen(
            self.command(conf),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("proxy exited early, see %s" % self.log_path)
            try:
                if self.health()[0] == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("proxy did not become healthy, see %s" % self.log_path)

    def _get(self, path: str) -> tuple[int, dict]:
        url = "http://%s:%d%s" % (LOOPBACK, self.health_port, path)
        with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - loopback only
            return resp.status, json.loads(resp.read())

    def health(self) -> tuple[int, dict]:
        return self._get("/healthz")

    def metrics(self) -> dict:
        """The snapshot as JSON (GET /stats)."""
        return self._get("/stats")[1]

    def scrape(self, path: str = "/metrics") -> tuple[int, str, str]:
        """GET path as text, as Prometheus would: (status, content type, body)."""
        url = "http://%s:%d%s" % (LOOPBACK, self.health_port, path)
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - loopback only
                return resp.status, resp.headers["Content-Type"], resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.headers["Content-Type"], exc.read().decode()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> int | None:
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
        return None if self.proc is None else self.proc.returncode


def transport_url(proxies: list[ProxyProcess], keys: Keys | None, **query) -> str:
    hosts = ",".join(p.address for p in proxies)
    params = [] if keys is None else [keys.client_query()]
    if keys is None:
        params.append("security_mode=plain")
    params.extend("%s=%s" % item for item in query.items())
    return "zmq://%s/?%s" % (hosts, "&".join(params))


def option_env(keys: Keys | None, **options) -> dict[str, str]:
    """[oslo_messaging_zmq] options as oslo.config environment variables."""
    values = dict(options)
    if keys is None:
        values["security_mode"] = "plain"
    else:
        values["client_secret_key_file"] = keys.client_secret
        values["server_public_key_file"] = keys.server_public
    return {"OS_OSLO_MESSAGING_ZMQ__%s" % k.upper(): str(v) for k, v in values.items()}


def new_conf():
    """A fresh ConfigOpts with everything oslo.messaging's transports expect."""
    from oslo_config import cfg
    from oslo_messaging import conffixture

    conf = cfg.ConfigOpts()
    conffixture.ConfFixture(conf).setUp()
    return conf


def start_peer(url: str, topic: str, server: str, *args: str):
    """An RPC server in its own process (peer_server.py); returns once it is listening."""
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "peer_server.py")
    proc = subprocess.Popen(
        [sys.executable, script, url, topic, server, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    line = proc.stdout.readline()
    if line.strip() != "ready":
        proc.kill()
        raise RuntimeError("peer server failed to start: %r" % line)
    return proc


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.05) -> bool:
    """Poll predicate until it is true or timeout passes; return its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def read_record(path: str) -> list[list[str]]:
    """The complete lines of a peer_server.py --record file, each [server, value].

    A line a server is appending right now may be read half written (a write that
    crosses a page boundary): it counts once it is whole."""
    return records.read(path)


def registered(proxies: list[ProxyProcess], topic: str, count: int) -> bool:
    """Every proxy knows at least count listeners of the RPC topic."""
    label = "rpc/openstack/" + topic
    return all(p.metrics()["targets"].get(label, {}).get("listeners", 0) >= count for p in proxies)
