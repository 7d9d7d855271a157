"""An RPC server (or a notification listener) in its own process, recording every execution.

    python -m faultlab.server_proc --url URL --topic T --server NAME --record FILE
        [--delay S] [--slow] [--workers N] [--executor threading|eventlet]
    python -m faultlab.server_proc --url URL --topic T --server NAME --record FILE --pool POOL

RPC endpoint: cast_rec(mid), call_rec(mid) -> mid, fan_rec(mid).  Each execution
appends ``<kind> <mid> <server> <time>`` after the (optional) delay; a cast also
appends ``begin-cast ...`` before it, so a cast cut by SIGKILL is visible.
The delay applies while the server is slow: from the start with --slow,
SIGUSR1 makes it slow, SIGUSR2 fast again.  Notification mode: endpoint
info() appends ``notify <mid> <server>/<pool> <time>``.  Prints ``ready
<driver file>`` on stdout once listening; SIGTERM/SIGKILL end it.  The eventlet
executor needs the process monkey-patched: run it through faultlab.green.
"""

from __future__ import annotations

import argparse
import signal
import threading
import time

import harness
import oslo_messaging

from faultlab import child, records

REGISTRATION_WAIT = 1.0  # one heartbeat: the registration has reached the proxies


class Speed:
    def __init__(self, delay: float, slow: bool) -> None:
        self.configured = delay
        self.delay = delay if slow else 0.0

    def slow(self, *_args) -> None:
        self.delay = self.configured

    def fast(self, *_args) -> None:
        self.delay = 0.0


class RpcEndpoint:
    def __init__(self, rec: records.Recorder, name: str, speed: Speed) -> None:
        self._rec = rec
        self._name = name
        self._speed = speed

    def _run(self, kind: str, mid: str) -> None:
        delay = self._speed.delay
        if delay:
            time.sleep(delay)
        self._rec.write(kind, mid, self._name, records.stamp())

    def cast_rec(self, ctxt, mid):
        self._rec.write("begin-cast", mid, self._name, records.stamp())
        self._run("cast", mid)

    def call_rec(self, ctxt, mid):
        self._run("call", mid)
        return mid

    def fan_rec(self, ctxt, mid):
        self._run("fan", mid)


class NotifyEndpoint:
    def __init__(self, rec: records.Recorder, label: str) -> None:
        self._rec = rec
        self._label = label

    def info(self, ctxt, publisher_id, event_type, payload, metadata):
        self._rec.write("notify", payload.get("mid"), self._label, records.stamp())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--server", required=True)
    parser.add_argument("--record", required=True)
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--slow", action="store_true")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--pool", default=None)
    parser.add_argument("--executor", choices=("threading", "eventlet"), default="threading")
    parser.add_argument("--lifetime", type=float, default=1800.0)
    parser.add_argument("--parent", type=int, default=None)
    args = parser.parse_args()
    if args.executor == "eventlet" and not child.green():
        parser.error("--executor eventlet needs eventlet's monkey-patching: run faultlab.green")
    child.install(args.lifetime, args.parent)
    child.setup_logging()

    rec = records.Recorder(args.record)
    conf = harness.new_conf()
    if args.pool is not None:
        transport = oslo_messaging.get_notification_transport(conf, url=args.url)
        endpoint = NotifyEndpoint(rec, f"{args.server}/{args.pool}")
        server = oslo_messaging.get_notification_listener(
            transport,
            [oslo_messaging.Target(topic=args.topic)],
            [endpoint],
            executor=args.executor,
            pool=args.pool,
        )
    else:
        speed = Speed(args.delay, args.slow)
        signal.signal(signal.SIGUSR1, speed.slow)
        signal.signal(signal.SIGUSR2, speed.fast)
        transport = oslo_messaging.get_rpc_transport(conf, url=args.url)
        server = oslo_messaging.get_rpc_server(
            transport,
            oslo_messaging.Target(topic=args.topic, server=args.server),
            [RpcEndpoint(rec, args.server, speed)],
            executor=args.executor,
        )
    server.start(override_pool_size=args.workers)
    time.sleep(REGISTRATION_WAIT)
    child.ready()
    threading.Event().wait()


if __name__ == "__main__":
    main()
