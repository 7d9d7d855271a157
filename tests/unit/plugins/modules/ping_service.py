# Copyright: contributors to the zeromq.openstack collection
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""A tiny oslo.messaging service for the oslo_messaging_ping tests.

Run with the interpreter that has oslo.messaging and the zmq driver:

    python ping_service.py --config-file F --topic T --servers s1,s2 --events E

It serves topic T as every listed server (threading executor, rpc_ping_enabled
from the config file), listens for notifications on the config's notification
topics, appends one JSON line per cast, fanout and notification it receives to
E, prints READY when started and stops on SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading

import oslo_messaging
from oslo_config import cfg


class Recorder:
    """Appends received events to a JSON-lines file (one writer lock per process)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.lock = threading.Lock()

    def write(self, **event) -> None:
        with self.lock, open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(event) + "\n")


class Endpoint:
    def __init__(self, server: str, recorder: Recorder) -> None:
        self.server = server
        self.recorder = recorder

    def echo(self, ctxt, **kwargs):
        return {"server": self.server, "kwargs": kwargs}

    def fail(self, ctxt, **kwargs):
        raise ValueError("asked to fail")

    def record(self, ctxt, **kwargs):
        self.recorder.write(kind="rpc", server=self.server, kwargs=kwargs)


class NotificationEndpoint:
    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder

    def _record(self, priority, publisher_id, event_type, payload):
        self.recorder.write(
            kind="notification",
            priority=priority,
            publisher_id=publisher_id,
            event_type=event_type,
            payload=payload,
        )

    def info(self, ctxt, publisher_id, event_type, payload, metadata):
        self._record("info", publisher_id, event_type, payload)

    def error(self, ctxt, publisher_id, event_type, payload, metadata):
        self._record("error", publisher_id, event_type, payload)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config-file", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--servers", required=True)
    parser.add_argument("--events", required=True)
    args = parser.parse_args(argv)

    conf = cfg.CONF  # the RPC dispatcher reads rpc_ping_enabled from the global CONF
    conf(
        ["--config-file", args.config_file],
        project="ping_service",
        default_config_files=[],
        default_config_dirs=[],
    )
    recorder = Recorder(args.events)
    rpc_transport = oslo_messaging.get_rpc_transport(conf)
    notify_transport = oslo_messaging.get_notification_transport(conf)
    servers = []
    for name in args.servers.split(","):
        target = oslo_messaging.Target(topic=args.topic, server=name)
        servers.append(
            oslo_messaging.get_rpc_server(rpc_transport, target, [Endpoint(name, recorder)])
        )
    topics = conf.oslo_messaging_notifications.topics
    listener = oslo_messaging.get_notification_listener(
        notify_transport,
        [oslo_messaging.Target(topic=topic) for topic in topics],
        [NotificationEndpoint(recorder)],
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    for server in [*servers, listener]:
        server.start()
    print("READY", flush=True)
    stop.wait()
    for server in [*servers, listener]:
        server.stop()
    for server in [*servers, listener]:
        server.wait()
    rpc_transport.cleanup()
    notify_transport.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
