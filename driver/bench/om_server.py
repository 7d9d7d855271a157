"""oslo.messaging server worker: one RPC server and one notification listener
(threading executor), counting what arrives per workload.

Run by run.py; commands on stdin (see worker_io): stats, stop.
"""

from __future__ import annotations

# isort: off
import om_green  # noqa: F401 - must run before the other imports

# isort: on
import argparse
import resource
import threading
import time
from typing import Any

import latency
import oslo_messaging
import worker_io
from om_common import NOTIFY_TOPIC, add_transport_args, make_conf, rpc_target


class Recorder:
    """Per-workload arrivals: unique sequence numbers, duplicates, one-way latency."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[str, set[int]] = {}
        self._dups: dict[str, int] = {}
        self._lat: dict[str, list[float]] = {}
        self._last: dict[str, float] = {}

    def record(self, wl: str, seq: int, sent_at: float) -> None:
        now = time.monotonic()  # CLOCK_MONOTONIC is machine-wide on Linux
        with self._lock:
            seen = self._seen.setdefault(wl, set())
            if seq in seen:
                self._dups[wl] = self._dups.get(wl, 0) + 1
                return
            seen.add(seq)
            self._lat.setdefault(wl, []).append(now - sent_at)
            self._last[wl] = now

    def stats(self, wl: str) -> dict[str, Any]:
        with self._lock:
            lat = list(self._lat.get(wl, []))
            out: dict[str, Any] = {
                "received": len(self._seen.get(wl, ())),
                "dups": self._dups.get(wl, 0),
                "last": self._last.get(wl),
            }
        out.update(latency.summarize(lat))
        # peak resident memory of the server process so far (a growing backlog shows here)
        out["maxrss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        return out


class RpcEndpoint:
    def __init__(self, rec: Recorder) -> None:
        self.rec = rec

    def bench_call(self, ctxt: dict, wl: str, seq: int, ts: float, body: str) -> str:
        self.rec.record(wl, seq, ts)
        return body  # echo, like the simulator: the reply is as big as the request

    def bench_cast(self, ctxt: dict, wl: str, seq: int, ts: float, body: str) -> None:
        self.rec.record(wl, seq, ts)


class NotifyEndpoint:
    def __init__(self, rec: Recorder) -> None:
        self.rec = rec

    def info(
        self, ctxt: dict, publisher_id: str, event_type: str, payload: dict, metadata: dict
    ) -> None:
        self.rec.record(payload["wl"], payload["seq"], payload["ts"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    add_transport_args(parser)
    parser.add_argument("--notify-url", help="defaults to --url")
    args = parser.parse_args()
    proto = worker_io.claim_stdout()
    worker_io.setup_logging(args.log_level)

    conf = make_conf(args.config_file)
    rec = Recorder()
    rpc_tr = oslo_messaging.get_rpc_transport(conf, url=args.url)
    notify_tr = oslo_messaging.get_notification_transport(conf, url=args.notify_url or args.url)
    rpc = oslo_messaging.get_rpc_server(
        rpc_tr, rpc_target(), [RpcEndpoint(rec)], executor=om_green.executor()
    )
    listener = oslo_messaging.get_notification_listener(
        notify_tr,
        [oslo_messaging.Target(topic=NOTIFY_TOPIC)],
        [NotifyEndpoint(rec)],
        executor=om_green.executor(),
    )
    rpc.start()
    listener.start()
    worker_io.say(proto, {"ready": True})

    def handle(cmd: dict[str, Any]) -> dict[str, Any]:
        if cmd["op"] == "stats":
            return rec.stats(cmd["wl"])
        if cmd["op"] == "stop":
            for srv in (rpc, listener):
                srv.stop()
                srv.wait()
            rpc_tr.cleanup()
            notify_tr.cleanup()
            return {"bye": True}
        raise ValueError(f"unknown op {cmd['op']!r}")

    worker_io.serve(proto, handle)


if __name__ == "__main__":
    main()
