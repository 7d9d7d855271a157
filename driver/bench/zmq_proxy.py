"""The zmq side of the bench: CURVE keys made with oslo-messaging-zmq-keygen,
config files for the proxy and for the oslo.messaging workers, one proxy
process on 127.0.0.1 (free ports), stopped afterwards.

Several proxies of one deployment share the keys of the first one
(``keys_from``), as the proxies of a real deployment share one server key pair
and one allowed_clients set."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

from netutil import LOOPBACK, free_port, wait_for_port

BIN = Path(sys.executable).parent


def driver_installed() -> bool:
    """True when the oslo.messaging 'zmq' driver and the proxy command exist."""
    try:
        from importlib.metadata import entry_points

        names = {ep.name for ep in entry_points(group="oslo.messaging.drivers")}
    except Exception:
        return False
    return "zmq" in names and (BIN / "oslo-messaging-zmq-proxy").exists()


class ZmqProxy:
    """One proxy plus the option files its peers need (context manager)."""

    def __init__(
        self,
        curve: bool,
        log_dir: Path,
        name: str = "",
        keys_from: ZmqProxy | None = None,
        proxy_options: dict[str, str] | None = None,
        client_options: list[str] = (),
    ) -> None:
        """keys_from: another (started) proxy whose CURVE keys and allowed clients this
        one uses; proxy_options: extra [zmq_proxy] settings (e.g. hold_ttl), also from
        BENCH_PROXY_OPTIONS="a=1,b=2" (tuning runs); client_options: "option = value"
        lines for the peers' [oslo_messaging_zmq]."""
        self.curve = curve
        self.client_options = list(client_options)
        self.name = name or ("zmq-curve" if curve else "zmq-plain")
        self.tmp = Path(tempfile.mkdtemp(prefix=f"bench-{self.name}-"))
        self._keys_from = keys_from
        self._proxy_options = dict(proxy_options or {})
        for option in os.environ.get("BENCH_PROXY_OPTIONS", "").split(","):
            if "=" in option:
                key, value = option.split("=", 1)
                self._proxy_options[key.strip()] = value.strip()
        self.port = free_port()
        self.health_port = free_port()
        self.log_path = log_dir / f"{self.name}-proxy.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self.client_conf = self.tmp / "client.conf"
        self.proxy_conf = self.tmp / "proxy.conf"

    @property
    def url(self) -> str:
        return f"zmq://{LOOPBACK}:{self.port}/"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def worker_args(self) -> list[str]:
        return ["--url", self.url, "--config-file", str(self.client_conf)]

    def _keygen(self, out_dir: Path, name: str) -> None:
        subprocess.run(
            [str(BIN / "oslo-messaging-zmq-keygen"), "--out-dir", str(out_dir), "--name", name],
            check=True,
            capture_output=True,
        )

    def _write_configs(self) -> None:
        mode = "curve" if self.curve else "plain"
        proxy = [
            "[zmq_proxy]",
            f"bind_address = {LOOPBACK}",
            f"port = {self.port}",
            f"health_address = {LOOPBACK}",
            f"health_port = {self.health_port}",
            f"security_mode = {mode}",
        ]
        proxy += [f"{key} = {value}" for key, value in self._proxy_options.items()]
        client = ["[oslo_messaging_zmq]", f"security_mode = {mode}"]
        if self.curve:
            home = self._keys_from.tmp if self._keys_from is not None else self.tmp
            keys, clients = home / "keys", home / "clients"
            if self._keys_from is None:
                self._keygen(keys, "proxy")
                self._keygen(keys, "bench")
                clients.mkdir()
                shutil.copy(keys / "bench.key", clients / "bench.key")
            proxy += [
                f"server_secret_key_file = {keys / 'proxy.key_secret'}",
                f"allowed_clients = {clients}",
            ]
            client += [
                f"client_secret_key_file = {keys / 'bench.key_secret'}",
                f"server_public_key_file = {keys / 'proxy.key'}",
            ]
        client += self.client_options
        self.proxy_conf.write_text("\n".join(proxy) + "\n")
        self.client_conf.write_text("\n".join(client) + "\n")

    def start(self) -> None:
        self._write_configs()
        log = open(self.log_path, "ab")  # noqa: SIM115 - inherited by the child
        self._proc = subprocess.Popen(
            [str(BIN / "oslo-messaging-zmq-proxy"), "--config-file", str(self.proxy_conf)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        if not wait_for_port(self.health_port, 30) and not wait_for_port(self.port, 5):
            self.stop()
            raise RuntimeError(f"{self.name} proxy did not start; see {self.log_path}")

    def metrics(self) -> dict[str, Any] | str:
        """The proxy's counters from its JSON endpoint /stats (best effort)."""
        url = f"http://{LOOPBACK}:{self.health_port}/stats"
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - loopback
                text = resp.read().decode(errors="replace")
        except OSError as exc:
            return f"unavailable: {exc}"
        try:
            parsed: dict[str, Any] = json.loads(text)
            return parsed
        except ValueError:
            return text[:4000]

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> ZmqProxy:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
