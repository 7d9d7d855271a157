"""Sender worker of the scale simulation: real oslo.messaging RPC clients (one
transport per process, as a nova-conductor) casting to and calling random
``compute.host-NNNN`` servers.

Every cast that returned is appended as ``MID HOST T_SENT`` to this process's
record file (one os.write per line), so scale.py can count by message id what
was sent, executed once, lost or duplicated. MID is ``PHASE:NAME:SEQ``.

Run by scale.py; commands on stdin (see worker_io):
  run  {"phase", "kind": "call"|"cast", "hosts": N, "threads", "duration",
        "rate": msgs/s for the whole process (0: as fast as it goes), "timeout"}
       -> sent, ok, errors, timeouts, first_error, call round trips (lat_ms)
  stop
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import threading
import time
from typing import Any

import oslo_messaging
import worker_io
from om_common import add_transport_args, make_conf
from scale_worker import EXCHANGE, TOPIC


def host_name(index: int) -> str:
    return f"host-{index:04d}"


class Sender:
    def __init__(self, conf: Any, url: str, name: str, record: str) -> None:
        self.name = name
        self.transport = oslo_messaging.get_rpc_transport(conf, url=url)
        target = oslo_messaging.Target(exchange=EXCHANGE, topic=TOPIC)
        self.client = oslo_messaging.get_rpc_client(self.transport, target)
        self.fd = os.open(record, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.seq = itertools.count()

    def stick_to(self, index: int) -> None:
        """Send through proxy index while it is live.  The driver sticks each transport
        to one proxy picked from its random routing id: a cloud's many clients spread
        over the proxies that way, two senders put everything on one proxy half the
        time.  The harness picks for them (the driver's private state: bench only)."""
        links = self.transport._driver._get_sender().links
        links._current = index % len(links.endpoints)

    def run(self, cmd: dict[str, Any]) -> dict[str, Any]:
        phase, kind, hosts = cmd["phase"], cmd["kind"], int(cmd["hosts"])
        threads, duration = int(cmd["threads"]), float(cmd["duration"])
        rate, timeout = float(cmd.get("rate", 0)), float(cmd.get("timeout", 30))
        lock = threading.Lock()
        tally: dict[str, Any] = {"sent": 0, "ok": 0, "errors": 0, "timeouts": 0}
        first_error: list[str] = []
        lat: list[float] = []
        start = time.monotonic()
        end = start + duration
        interval = threads / rate if rate > 0 else 0.0

        def loop(rnd: random.Random, offset: float) -> None:
            mine: list[float] = []
            counts = dict.fromkeys(tally, 0)
            next_at = start + offset
            while True:
                if interval:
                    wait = next_at - time.monotonic()
                    if wait > 0:
                        time.sleep(wait)
                    next_at += interval
                now = time.monotonic()
                if now >= end:
                    break
                host = host_name(rnd.randrange(hosts))
                mid = f"{phase}:{self.name}:{next(self.seq)}"
                prepared = self.client.prepare(server=host, timeout=timeout)
                counts["sent"] += 1
                try:
                    if kind == "call":
                        if prepared.call({}, "ping", mid=mid, ts=now) != host:
                            raise RuntimeError(f"{mid}: answered by another host")
                        mine.append(time.monotonic() - now)
                    else:
                        prepared.cast({}, "record", mid=mid, ts=now)
                        os.write(self.fd, f"{mid} {host} {now:.6f}\n".encode())
                    counts["ok"] += 1
                except oslo_messaging.MessagingTimeout:
                    counts["timeouts"] += 1
                except Exception as exc:  # counted, the first one reported
                    counts["errors"] += 1
                    if not first_error:
                        first_error.append(f"{type(exc).__name__}: {exc}"[:300])
            with lock:
                for key, value in counts.items():
                    tally[key] += value
                lat.extend(mine)

        workers = [
            threading.Thread(
                target=loop, args=(random.Random(), i * interval / threads), daemon=True
            )
            for i in range(threads)
        ]
        for thread in workers:
            thread.start()
        for thread in workers:
            thread.join()
        elapsed = time.monotonic() - start
        out: dict[str, Any] = dict(tally, seconds=round(elapsed, 3), started=start)
        out["first_error"] = first_error[0] if first_error else ""
        if kind == "call":
            out["lat_ms"] = [round(x * 1000, 3) for x in lat]  # merged by scale.py
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    add_transport_args(parser)
    parser.add_argument("--name", required=True)
    parser.add_argument("--record", required=True, help="append-only record of casts sent")
    parser.add_argument("--proxy", type=int, help="index of the proxy this sender sticks to")
    args = parser.parse_args()
    proto = worker_io.claim_stdout()
    worker_io.setup_logging(args.log_level)
    sender = Sender(make_conf(args.config_file), args.url, args.name, args.record)
    if args.proxy is not None:
        sender.stick_to(args.proxy)
    worker_io.say(proto, {"ready": True, "pid": os.getpid()})

    def handle(cmd: dict[str, Any]) -> dict[str, Any]:
        if cmd["op"] == "run":
            return sender.run(cmd)
        if cmd["op"] == "stop":
            sender.transport.cleanup()  # waits for unsettled casts (cleanup_flush_timeout)
            return {"bye": True}
        raise ValueError(f"unknown op {cmd['op']!r}")

    worker_io.serve(proto, handle)


if __name__ == "__main__":
    main()
