"""One lab: two CURVE proxies, a relay in front of each, RPC servers, listeners, clients.

Every peer reaches each proxy only through that proxy's relay (the URL lists
the relays), so a relay can cut a proxy off while all TCP connections stay up.
All processes run on 127.0.0.1; close() ends every one of them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field

import harness

from faultlab import procs, records
from faultlab.relay import Relay


@dataclass
class Settings:
    clients: int = 3
    cast_rate: float = 80.0  # per client: casts + fanouts (every fanout_every-th)
    fanout_every: int = 4
    call_rate: float = 10.0
    notify_rate: float = 10.0
    call_timeout: float = 30.0
    burst: int = 2000
    pools: dict[str, int] = field(default_factory=lambda: {"pa": 2, "pb": 1})
    query: dict[str, str] = field(default_factory=dict)  # driver options in the URL
    proxy_overrides: dict[str, str] = field(default_factory=dict)
    lifetime: float = 1800.0  # hard bound of every child process
    # servers, listeners and clients under eventlet monkey-patching (faultlab.green),
    # the servers and listeners with the eventlet executor
    green: bool = False


@dataclass
class Member:
    """A server or notification listener process and what the invariants need of it."""

    name: str
    child: procs.Child
    record: str
    kind: str = "rpc"  # rpc | notify
    pool: str | None = None
    delay: float = 0.0
    workers: int | None = None

    @property
    def ready_at(self) -> float | None:
        return self.child.ready_at

    @property
    def ended_at(self) -> float | None:
        return self.child.ended_at


class Lab:
    def __init__(self, workdir: str, settings: Settings | None = None) -> None:
        self.workdir = workdir
        self.settings = settings or Settings()
        self.record_dir = os.path.join(workdir, "records")
        self.log_dir = os.path.join(workdir, "logs")
        os.makedirs(self.record_dir, exist_ok=True)
        os.makedirs(self.log_dir, exist_ok=True)
        tag = uuid.uuid4().hex[:8]
        self.topic = "faultlab-" + tag
        self.notify_topic = "faultlab-n-" + tag
        self.driver_root = ""
        self.keys: harness.Keys | None = None
        self.proxies: list[harness.ProxyProcess] = []
        self.relays: list[Relay] = []
        self.url = ""
        self.members: dict[str, Member] = {}
        self.clients: dict[str, procs.Child] = {}
        self.client_records: dict[str, str] = {}
        self._reaper: subprocess.Popen | None = None

    # -- setup -----------------------------------------------------------------
    def start_network(self) -> None:
        self.driver_root = procs.pin_pythonpath()
        self.keys = harness.make_keys(os.path.join(self.workdir, "keys"))
        proxy_dir = os.path.join(self.workdir, "proxies")
        os.makedirs(proxy_dir, exist_ok=True)
        # the proxies get no parent-death signal from harness: a reaper kills
        # them when this process goes away without close()
        self._reaper = subprocess.Popen(
            [sys.executable, "-m", "faultlab.reaper"],
            stdin=subprocess.PIPE,
            start_new_session=True,
        )
        for _unused in range(2):
            proxy = harness.ProxyProcess(self.keys, proxy_dir, **self.settings.proxy_overrides)
            self.proxies.append(proxy)
            self._start_proxy(proxy)
        for idx, proxy in enumerate(self.proxies):
            self.relays.append(Relay(proxy.port, name=f"relay{idx + 1}").start())
        self.url = harness.transport_url(self.relays, self.keys, **self.settings.query)

    def _start_proxy(self, proxy: harness.ProxyProcess) -> None:
        proxy.start()
        if self._reaper is not None and self._reaper.stdin is not None:
            marker = os.path.join(proxy.workdir, f"proxy-{proxy.port}.conf")
            self._reaper.stdin.write(f"{proxy.proc.pid} {marker}\n".encode())
            self._reaper.stdin.flush()

    def restart_proxy(self, idx: int) -> None:
        """Start a killed proxy again on the same port."""
        self._start_proxy(self.proxies[idx])

    def _common_args(self, record: str) -> list[str]:
        return [
            "--url",
            self.url,
            "--record",
            record,
            "--lifetime",
            str(self.settings.lifetime),
            "--parent",
            str(os.getpid()),
        ]

    def _child(self, name: str, module: str, args: list[str]) -> procs.Child:
        log = os.path.join(self.log_dir, name + ".log")
        if self.settings.green:
            if module == "server_proc":
                args = [*args, "--executor", "eventlet"]
            return procs.Child(name, "green", [module, *args], log)
        return procs.Child(name, module, args, log)

    def spawn_server(
        self, name: str, delay: float = 0.0, workers: int | None = None, slow: bool = False
    ) -> Member:
        record = os.path.join(self.record_dir, f"server-{name}.rec")
        args = ["--topic", self.topic, "--server", name, "--delay", str(delay)]
        args += self._common_args(record)
        if workers is not None:
            args += ["--workers", str(workers)]
        if slow:
            args.append("--slow")
        child = self._child(name, "server_proc", args)
        member = Member(name, child.spawn(), record, delay=delay, workers=workers)
        self.members[name] = member
        return member

    def spawn_listener(self, name: str, pool: str) -> Member:
        record = os.path.join(self.record_dir, f"listener-{name}.rec")
        args = ["--topic", self.notify_topic, "--server", name, "--pool", pool]
        args += self._common_args(record)
        child = self._child(name, "server_proc", args)
        member = Member(name, child.spawn(), record, kind="notify", pool=pool)
        self.members[name] = member
        return member

    def wait_members(self, members: list[Member], timeout: float = 40.0) -> None:
        self._check_ready([m.child for m in members], timeout)

    def start_clients(self, duration: float) -> None:
        s = self.settings
        spawned = []
        for num in range(1, s.clients + 1):
            cid = f"c{num}"
            record = os.path.join(self.record_dir, f"client-{cid}.rec")
            args = ["--topic", self.topic, "--client", cid, "--duration", str(duration)]
            args += ["--cast-rate", str(s.cast_rate), "--fanout-every", str(s.fanout_every)]
            args += ["--call-rate", str(s.call_rate), "--call-timeout", str(s.call_timeout)]
            args += ["--burst", str(s.burst)]
            if s.pools:
                args += ["--notify-topic", self.notify_topic, "--notify-rate", str(s.notify_rate)]
            args += self._common_args(record)
            child = self._child(cid, "client_proc", args)
            self.clients[cid] = child.spawn()
            self.client_records[cid] = record
            spawned.append(child)
        self._check_ready(spawned)

    def _check_ready(self, children: list[procs.Child], timeout: float = 40.0) -> None:
        deadline = time.monotonic() + timeout
        mode = "green" if self.settings.green else "threads"
        for child in children:
            info = child.wait_ready(max(1.0, deadline - time.monotonic())).split()
            if not info or not info[0].startswith(self.driver_root + os.sep):
                raise RuntimeError(f"{child.name} imported the driver from {info}")
            if info[1:] != [mode]:
                raise RuntimeError(f"{child.name} runs {info[1:]}, the lab asked for {mode}")

    # -- during the run ----------------------------------------------------------
    def routed_of(self, idx: int) -> int | None:
        """A proxy's routed counter (None if it does not answer)."""
        try:
            return int(self.proxies[idx].metrics()["counters"]["routed"])
        except (OSError, ValueError, KeyError):
            return None

    def counters(self) -> list[dict | None]:
        """Every proxy's /stats counters (None for a proxy that does not answer)."""
        values: list[dict | None] = []
        for proxy in self.proxies:
            try:
                values.append(dict(proxy.metrics()["counters"]))
            except (OSError, ValueError, KeyError):
                values.append(None)
        return values

    def routed(self) -> list[int | None]:
        return [self.routed_of(idx) for idx in range(len(self.proxies))]

    def kill_member(self, name: str) -> float:
        member = self.members[name]
        member.child.kill()
        return member.child.ended_at or time.monotonic()

    def signal_clients(self, sig: int) -> None:
        for child in self.clients.values():
            child.signal(sig)

    def stop_clients(self, bound: float) -> dict[str, dict]:
        """SIGTERM every client; each must exit within bound seconds."""
        asked = time.monotonic()
        self.signal_clients(signal.SIGTERM)
        result = {}
        for cid, child in self.clients.items():
            code = child.wait(max(0.1, asked + bound - time.monotonic()))
            hung = code is None
            if hung:
                child.kill()
            result[cid] = {
                "code": code,
                "hung": hung,
                "exit_after_s": round((child.ended_at or time.monotonic()) - asked, 2),
                "exit_line": next(
                    (r for r in records.read(self.client_records[cid]) if r[0] == "exit"), None
                ),
            }
        return result

    # -- teardown ----------------------------------------------------------------
    def close(self) -> None:
        """Stop everything this lab started; safe to call more than once and after errors."""
        for child in list(self.clients.values()):
            child.kill()
        for member in list(self.members.values()):
            member.child.kill()
        for relay in self.relays:
            relay.close()
        for proxy in self.proxies:
            if proxy.alive():
                try:
                    os.kill(proxy.proc.pid, signal.SIGCONT)
                except ProcessLookupError:
                    pass
            proxy.stop()
        if self._reaper is not None:
            if self._reaper.stdin is not None:
                self._reaper.stdin.close()
            try:
                self._reaper.wait(5)
            except subprocess.TimeoutExpired:
                self._reaper.kill()
            self._reaper = None
