"""oslo.messaging client worker: runs one workload at a time on request
(call / cast / notify, N threads, for T seconds or M messages) and answers
with what it sent, what failed and the call round-trip latencies.

Run by run.py; commands on stdin (see worker_io): run, stop.
"""

from __future__ import annotations

# isort: off
import om_green  # noqa: F401 - must run before the other imports

# isort: on
import argparse
import itertools
import threading
import time
from collections.abc import Callable
from typing import Any

import latency
import oslo_messaging
import payloads
import worker_io
from om_common import NOTIFY_TOPIC, add_transport_args, make_conf, rpc_target

Sender = Callable[[str, int, float, str], None]


class Tally:
    """What the sending threads of one workload did."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sent = 0
        self.ok = 0
        self.timeouts = 0
        self.errors = 0
        self.first_error = ""
        self.lat: list[float] = []

    def failed(self, exc: Exception) -> None:
        with self.lock:
            if isinstance(exc, oslo_messaging.MessagingTimeout):
                self.timeouts += 1
            else:
                self.errors += 1
            if not self.first_error:
                self.first_error = f"{type(exc).__name__}: {exc}"[:300]


class Client:
    def __init__(self, rpc_tr: Any, notify_tr: Any) -> None:
        self.rpc_tr = rpc_tr
        self.notify_tr = notify_tr
        self.pool: list[str] = []
        self.pool_spec = ""

    def _senders(self, kind: str, timeout: float) -> Sender:
        if kind in ("call", "cast"):
            client = oslo_messaging.get_rpc_client(self.rpc_tr, rpc_target(), timeout=timeout)
            if kind == "call":

                def call(wl: str, seq: int, ts: float, body: str) -> None:
                    reply = client.call({}, "bench_call", wl=wl, seq=seq, ts=ts, body=body)
                    if len(reply) != len(body):
                        raise RuntimeError("reply does not match the request")

                return call

            def cast(wl: str, seq: int, ts: float, body: str) -> None:
                client.cast({}, "bench_cast", wl=wl, seq=seq, ts=ts, body=body)

            return cast
        if kind == "notify":
            notifier = oslo_messaging.Notifier(
                self.notify_tr,
                publisher_id="bench.client",
                driver="messaging",
                topics=[NOTIFY_TOPIC],
                retry=-1,
            )

            def notify(wl: str, seq: int, ts: float, body: str) -> None:
                payload = {"wl": wl, "seq": seq, "ts": ts, "body": body}
                notifier.info({}, "bench.event", payload)

            return notify
        raise ValueError(f"unknown workload kind {kind!r}")

    def run(self, cmd: dict[str, Any]) -> dict[str, Any]:
        if cmd["size"] != self.pool_spec:
            self.pool = payloads.make_pool(*payloads.parse_size(cmd["size"]))
            self.pool_spec = cmd["size"]
        wl, threads = cmd["wl"], int(cmd["threads"])
        max_msgs = int(cmd.get("max_msgs") or 0)
        seqs = itertools.count()
        tally = Tally()
        # One client object per thread, as services hold one per manager.
        senders = [self._senders(cmd["kind"], float(cmd["timeout"])) for _ in range(threads)]
        clock = {"t0": 0.0, "end": 0.0}

        def start_clock() -> None:  # runs once, before any thread is released
            clock["t0"] = time.monotonic()
            clock["end"] = clock["t0"] + float(cmd["duration"])

        start = threading.Barrier(threads + 1, action=start_clock)

        def loop(send: Sender, offset: int) -> None:
            local: list[float] = []
            pos = offset
            start.wait()
            end = clock["end"]
            while time.monotonic() < end:
                seq = next(seqs)
                if max_msgs and seq >= max_msgs:
                    break
                body = self.pool[pos % len(self.pool)]
                pos += 1
                sent_at = time.monotonic()
                try:
                    send(wl, seq, sent_at, body)
                except Exception as exc:
                    tally.failed(exc)
                else:
                    local.append(time.monotonic() - sent_at)
                with tally.lock:
                    tally.sent += 1
            with tally.lock:
                tally.ok += len(local)
                tally.lat.extend(local)

        workers = [
            threading.Thread(target=loop, args=(s, i * 97), daemon=True)
            for i, s in enumerate(senders)
        ]
        for w in workers:
            w.start()
        start.wait()
        for w in workers:
            w.join()
        t1 = time.monotonic()
        out: dict[str, Any] = {
            "sent": tally.sent,
            "ok": tally.ok,
            "timeouts": tally.timeouts,
            "errors": tally.errors,
            "first_error": tally.first_error,
            "t0": clock["t0"],
            "t1": t1,
        }
        out.update({f"send_{k}": v for k, v in latency.summarize(tally.lat).items()})
        # the tail, to tell scheduling noise from timer-sized stalls
        out["slowest_ms"] = [round(x * 1000, 1) for x in sorted(tally.lat)[-10:]]
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    add_transport_args(parser)
    parser.add_argument("--notify-url", help="defaults to --url")
    args = parser.parse_args()
    proto = worker_io.claim_stdout()
    worker_io.setup_logging(args.log_level)

    conf = make_conf(args.config_file)
    rpc_tr = oslo_messaging.get_rpc_transport(conf, url=args.url)
    notify_tr = oslo_messaging.get_notification_transport(conf, url=args.notify_url or args.url)
    client = Client(rpc_tr, notify_tr)
    worker_io.say(proto, {"ready": True})

    def handle(cmd: dict[str, Any]) -> dict[str, Any]:
        if cmd["op"] == "run":
            return client.run(cmd)
        if cmd["op"] == "stop":
            rpc_tr.cleanup()
            notify_tr.cleanup()
            return {"bye": True}
        raise ValueError(f"unknown op {cmd['op']!r}")

    worker_io.serve(proto, handle)


if __name__ == "__main__":
    main()
