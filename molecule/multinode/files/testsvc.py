"""A tiny oslo.messaging service for the multinode scenario.

It runs what an OpenStack service runs, and nothing else:

* an RPC server (threading executor) on topic ``testsvc``, server = this host's name, with
  ``echo(value)`` (returns the value and the host) and ``record(token)`` (appends the token to
  ``<state_dir>/rpc.log``; the cast and fanout tests read that file);
* a notification listener on topic ``testsvc_notifications`` (every priority) that appends one
  JSON line per notification to ``<state_dir>/notifications.log``.

The transport comes only from the config file(s) (``--config-file``): ``[DEFAULT] transport_url``,
``[oslo_messaging_notifications] transport_url`` and ``[oslo_messaging_zmq]``, rendered by the
collection's oslo_messaging_zmq role. ``[DEFAULT] rpc_ping_enabled`` is read by oslo.messaging
from the global ``cfg.CONF``, so the service parses into ``cfg.CONF`` as OpenStack services do.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import sys
import threading
import time

import oslo_messaging
from oslo_config import cfg

LOG = logging.getLogger("testsvc")

RPC_TOPIC = "testsvc"
NOTIFY_TOPIC = "testsvc_notifications"

OPTS = [
    cfg.StrOpt("host", default=socket.gethostname(), help="RPC server name (default: hostname)."),
    cfg.StrOpt(
        "state_dir", default="/var/lib/testsvc", help="Directory of rpc.log and notifications.log."
    ),
]


class _Journal:
    """Append-only JSON-lines file, safe across the executor's threads."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._lock = threading.Lock()

    def append(self, record: dict) -> None:
        line = json.dumps(dict(record, at=round(time.time(), 3)), sort_keys=True)
        with self._lock, open(self._path, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")
            handle.flush()
            os.fsync(handle.fileno())


class RpcEndpoint:
    """What callers of topic ``testsvc`` can invoke."""

    def __init__(self, host: str, journal: _Journal) -> None:
        self.host = host
        self.journal = journal

    def echo(self, ctxt: dict, value):
        return {"value": value, "host": self.host}

    def record(self, ctxt: dict, token: str):
        self.journal.append({"token": token, "host": self.host})
        return {"token": token, "host": self.host}


class NotificationEndpoint:
    """Records every notification of topic ``testsvc_notifications``, whatever its priority."""

    def __init__(self, host: str, journal: _Journal) -> None:
        self.host = host
        self.journal = journal

    def _record(self, priority: str, publisher_id, event_type, payload) -> None:
        self.journal.append(
            {
                "priority": priority,
                "publisher_id": publisher_id,
                "event_type": event_type,
                "payload": payload,
                "host": self.host,
            }
        )

    def audit(self, ctxt, publisher_id, event_type, payload, metadata):
        self._record("audit", publisher_id, event_type, payload)

    def debug(self, ctxt, publisher_id, event_type, payload, metadata):
        self._record("debug", publisher_id, event_type, payload)

    def info(self, ctxt, publisher_id, event_type, payload, metadata):
        self._record("info", publisher_id, event_type, payload)

    def warn(self, ctxt, publisher_id, event_type, payload, metadata):
        self._record("warn", publisher_id, event_type, payload)

    def error(self, ctxt, publisher_id, event_type, payload, metadata):
        self._record("error", publisher_id, event_type, payload)

    def critical(self, ctxt, publisher_id, event_type, payload, metadata):
        self._record("critical", publisher_id, event_type, payload)

    def sample(self, ctxt, publisher_id, event_type, payload, metadata):
        self._record("sample", publisher_id, event_type, payload)


def main(argv: list[str] | None = None) -> int:
    conf = cfg.CONF
    conf.register_opts(OPTS)
    conf(sys.argv[1:] if argv is None else argv, project="testsvc")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    os.makedirs(conf.state_dir, exist_ok=True)

    rpc_transport = oslo_messaging.get_rpc_transport(conf)
    notify_transport = oslo_messaging.get_notification_transport(conf)
    rpc_server = oslo_messaging.get_rpc_server(
        rpc_transport,
        oslo_messaging.Target(topic=RPC_TOPIC, server=conf.host),
        [RpcEndpoint(conf.host, _Journal(os.path.join(conf.state_dir, "rpc.log")))],
        executor="threading",
    )
    listener = oslo_messaging.get_notification_listener(
        notify_transport,
        [oslo_messaging.Target(topic=NOTIFY_TOPIC)],
        [
            NotificationEndpoint(
                conf.host, _Journal(os.path.join(conf.state_dir, "notifications.log"))
            )
        ],
        executor="threading",
    )

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    rpc_server.start()
    listener.start()
    LOG.info(
        "serving topic %s as server %s, notifications on %s", RPC_TOPIC, conf.host, NOTIFY_TOPIC
    )
    while not stop.wait(1.0):
        pass
    LOG.info("stopping")
    for server in (rpc_server, listener):
        server.stop()
    for server in (rpc_server, listener):
        server.wait()
    rpc_transport.cleanup()
    notify_transport.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
