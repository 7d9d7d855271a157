"""Listener worker of the scale simulation: many nova-compute-like listeners in
one process, each with its own routing id, registered on both proxies, target
topic ``compute``, server ``host-NNNN``, exchange ``nova``. Two kinds:

* ``driver``: a real oslo.messaging RPC server (``get_rpc_server``, threading
  executor) on its own ``get_rpc_transport(zmq://p1,p2)``: its own I/O thread,
  its own DEALER per proxy;
* ``bare``: scale_bare.BareListener, the wire protocol as the driver speaks it,
  all of the process's bare listeners on one thread.

Every cast a listener runs appends ``MID HOST T_EXEC T_SENT`` to this process's
record file with one os.write on an O_APPEND descriptor (survives SIGKILL).

Run by scale.py; commands on stdin (see worker_io):
  activate    {"hosts": [...], "kind": "driver"|"bare"}  start them (in the background)
  deactivate  {"hosts": [...]}            stop them cleanly (in the background)
  restart     {"host": H, "down": S}      stop H cleanly, wait S s, start it again:
                                          same host name and kind, new routing id
  stats                                   listeners up, restarts done, RSS, threads
  stop                                    exit at once (records are on disk)
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from typing import Any

import oslo_messaging
import worker_io
from om_common import add_transport_args, make_conf
from scale_bare import BareHub

EXCHANGE = "nova"
TOPIC = "compute"


class Endpoint:
    """What the senders call: cast ``record`` (appends to the record file), call ``ping``."""

    def __init__(self, host: str, fd: int) -> None:
        self.host = host
        self.fd = fd

    def record(self, ctxt: dict, mid: str, ts: float) -> None:
        os.write(self.fd, f"{mid} {self.host} {time.monotonic():.6f} {ts:.6f}\n".encode())

    def ping(self, ctxt: dict, mid: str, ts: float) -> str:
        return self.host


class DriverListener:
    """One nova-compute-like RPC server with its own transport."""

    kind = "driver"

    def __init__(self, conf: Any, url: str, host: str, fd: int) -> None:
        self.host = host
        self.transport = oslo_messaging.get_rpc_transport(conf, url=url)
        target = oslo_messaging.Target(exchange=EXCHANGE, topic=TOPIC, server=host)
        self.server = oslo_messaging.get_rpc_server(
            self.transport, target, [Endpoint(host, fd)], executor="threading"
        )
        self.server.start()

    def stop(self) -> None:
        """As a service stopping on SIGTERM: unregister, finish what it took, close."""
        self.server.stop()
        self.server.wait()
        self.transport.cleanup()


class BareHandle:
    kind = "bare"

    def __init__(self, hub: BareHub, host: str) -> None:
        self.hub = hub
        self.host = host
        hub.start(host)

    def stop(self) -> None:
        self.hub.stop(self.host)


class Worker:
    def __init__(self, conf: Any, url: str, config_files: list[str], record: str) -> None:
        self.conf = conf
        self.url = url
        self.fd = os.open(record, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        endpoints = ["tcp://" + hostport for hostport in url[len("zmq://") :].strip("/").split(",")]
        self.hub = BareHub(endpoints, config_files, self.fd)
        self.lock = threading.Lock()
        self.up: dict[str, DriverListener | BareHandle] = {}
        self.events: list[dict[str, Any]] = []  # finished restarts
        self.errors: list[str] = []
        self.busy = 0  # listeners being started or stopped

    def _start(self, host: str, kind: str) -> None:
        if kind == "driver":
            listener: DriverListener | BareHandle = DriverListener(
                self.conf, self.url, host, self.fd
            )
        else:
            listener = BareHandle(self.hub, host)
        with self.lock:
            self.up[host] = listener

    def _in_background(self, hosts: list[str], job) -> None:
        with self.lock:
            self.busy += len(hosts)

        def run() -> None:
            for host in hosts:
                try:
                    job(host)
                except Exception as exc:  # reported by stats
                    self.errors.append(f"{host}: {type(exc).__name__}: {exc}"[:300])
                with self.lock:
                    self.busy -= 1

        threading.Thread(target=run, daemon=True).start()

    def activate(self, hosts: list[str], kind: str) -> None:
        self._in_background(hosts, lambda host: self._start(host, kind))

    def deactivate(self, hosts: list[str]) -> None:
        def stop(host: str) -> None:
            with self.lock:
                listener = self.up.pop(host)
            listener.stop()

        self._in_background(hosts, stop)

    def restart(self, host: str, down: float) -> None:
        def run() -> None:
            t_down = time.monotonic()
            try:
                with self.lock:
                    listener = self.up.pop(host)
                listener.stop()
                t_stopped = time.monotonic()
                time.sleep(down)
                self._start(host, listener.kind)
            except Exception as exc:  # reported by stats
                self.errors.append(f"restart {host}: {type(exc).__name__}: {exc}"[:300])
                return
            event = {"host": host, "down": t_down, "stopped": t_stopped, "up": time.monotonic()}
            with self.lock:
                self.events.append(event)

        threading.Thread(target=run, daemon=True).start()

    def stats(self) -> dict[str, Any]:
        with self.lock:
            events, self.events = self.events, []
            out: dict[str, Any] = {
                "up": len(self.up),
                "busy": self.busy,
                "events": events,
                "errors": self.errors[:5],
            }
        with open("/proc/self/statm") as handle:
            out["rss_bytes"] = int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        out["threads"] = len(os.listdir("/proc/self/task"))
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    add_transport_args(parser)
    parser.add_argument("--record", required=True, help="append-only record file")
    args = parser.parse_args()
    proto = worker_io.claim_stdout()
    worker_io.setup_logging(args.log_level)
    worker = Worker(make_conf(args.config_file), args.url, args.config_file, args.record)
    worker_io.say(proto, {"ready": True, "pid": os.getpid()})

    def handle(cmd: dict[str, Any]) -> dict[str, Any]:
        op = cmd["op"]
        if op == "activate":
            worker.activate(cmd["hosts"], cmd["kind"])
            return {"ok": True}
        if op == "deactivate":
            worker.deactivate(cmd["hosts"])
            return {"ok": True}
        if op == "restart":
            worker.restart(cmd["host"], float(cmd["down"]))
            return {"ok": True}
        if op == "stats":
            return worker.stats()
        if op == "stop":
            # nothing to finish: every execution is on disk already; the proxies and
            # the record files are all the run needs
            proto.write('{"bye": true}\n')
            proto.flush()
            os._exit(0)
        raise ValueError(f"unknown op {op!r}")

    worker_io.serve(proto, handle)


if __name__ == "__main__":
    main()
