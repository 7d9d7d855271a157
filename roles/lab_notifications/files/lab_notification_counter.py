"""The lab's notification consumer: counts every notification the services send.

One oslo.messaging notification listener per ``exchange:topic`` of ``[lab_notifications]
targets``, all in pool ``[lab_notifications] pool`` and on every priority, so that the proxy
routes the services' notifications here instead of holding and then dropping them. Each
notification is counted by event type, by target (``exchange/topic.priority``) and by publisher,
and the counts are rewritten atomically (a temporary file renamed over the old one) to
``[lab_notifications] counts_file``, which tests read.

The transport comes only from the config files (``--config-file``/``--config-dir``):
``[oslo_messaging_notifications] transport_url`` and ``[oslo_messaging_zmq]``, rendered by the
collection's oslo_messaging_zmq role.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from typing import Any

import oslo_messaging
from oslo_config import cfg

LOG = logging.getLogger("lab_notifications")

GROUP = "lab_notifications"
OPTS = [
    cfg.ListOpt(
        "targets",
        default=[],
        help="exchange:topic pairs to listen on, every priority of each (topic.info, ...).",
    ),
    cfg.StrOpt("pool", default="lab-notifications", help="Notification pool of the listeners."),
    cfg.StrOpt(
        "counts_file",
        default="/var/lib/lab-notifications/counts.json",
        help="JSON file the counts are atomically rewritten to after each notification.",
    ),
]
# Every priority oslo.messaging's notifier sends (Notifier.audit() ... sample()).
PRIORITIES = ("audit", "debug", "info", "warn", "error", "critical", "sample")


def parse_targets(pairs: list[str]) -> list[tuple[str, str]]:
    """``["nova:notifications", ...]`` → ``[("nova", "notifications"), ...]``."""
    out = []
    for pair in pairs:
        exchange, sep, topic = pair.partition(":")
        if not sep or not exchange or not topic:
            raise ValueError(f"target {pair!r} is not exchange:topic")
        out.append((exchange, topic))
    return out


class Counts:
    """Notification counts, shared by the listeners' threads, persisted after each change."""

    def __init__(self, path: str, pool: str, targets: list[tuple[str, str]]) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._pool = pool
        self._targets = [f"{exchange}/{topic}" for exchange, topic in targets]
        self._started = round(time.time(), 3)
        self.total = 0
        self.by_event_type: Counter[str] = Counter()
        self.by_target: Counter[str] = Counter()
        self.by_publisher: Counter[str] = Counter()
        self._updated: float | None = None

    def add(self, target: str, priority: str, publisher_id: str, event_type: str) -> None:
        with self._lock:
            self.total += 1
            self.by_event_type[event_type or "(none)"] += 1
            self.by_target[f"{target}.{priority}"] += 1
            self.by_publisher[(publisher_id or "(none)").split(".", 1)[0]] += 1
            self._updated = round(time.time(), 3)
            self._write()

    def snapshot(self) -> dict[str, Any]:
        return {
            "pool": self._pool,
            "targets": self._targets,
            "started": self._started,
            "updated": self._updated,
            "total": self.total,
            "by_event_type": dict(sorted(self.by_event_type.items())),
            "by_target": dict(sorted(self.by_target.items())),
            "by_publisher": dict(sorted(self.by_publisher.items())),
        }

    def write(self) -> None:
        with self._lock:
            self._write()

    def _write(self) -> None:
        directory = os.path.dirname(self._path) or "."
        fd, tmp = tempfile.mkstemp(prefix=".counts.", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(self.snapshot(), handle, indent=1, sort_keys=True)
                handle.write("\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, self._path)
        except BaseException:
            os.unlink(tmp)
            raise


class CountingEndpoint:
    """Counts each notification of one target, whatever its priority."""

    def __init__(self, target: str, counts: Counts) -> None:
        self.target = target
        self.counts = counts

    def _count(self, priority: str, publisher_id: str, event_type: str) -> None:
        self.counts.add(self.target, priority, publisher_id, event_type)

    def audit(self, ctxt: dict, publisher_id: str, event_type: str, payload: Any, metadata: dict):
        self._count("audit", publisher_id, event_type)

    def debug(self, ctxt: dict, publisher_id: str, event_type: str, payload: Any, metadata: dict):
        self._count("debug", publisher_id, event_type)

    def info(self, ctxt: dict, publisher_id: str, event_type: str, payload: Any, metadata: dict):
        self._count("info", publisher_id, event_type)

    def warn(self, ctxt: dict, publisher_id: str, event_type: str, payload: Any, metadata: dict):
        self._count("warn", publisher_id, event_type)

    def error(self, ctxt: dict, publisher_id: str, event_type: str, payload: Any, metadata: dict):
        self._count("error", publisher_id, event_type)

    def critical(
        self, ctxt: dict, publisher_id: str, event_type: str, payload: Any, metadata: dict
    ):
        self._count("critical", publisher_id, event_type)

    def sample(self, ctxt: dict, publisher_id: str, event_type: str, payload: Any, metadata: dict):
        self._count("sample", publisher_id, event_type)


def main(argv: list[str] | None = None) -> int:
    conf = cfg.CONF
    conf.register_opts(OPTS, group=GROUP)
    conf(sys.argv[1:] if argv is None else argv, project="lab-notifications")
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s.%(msecs)03d %(process)d %(levelname)s %(name)s %(message)s",
        datefmt="%Y-%m-%d %H:%M:%S",
    )
    opts = conf[GROUP]
    targets = parse_targets(opts.targets)
    if not targets:
        LOG.error("no [%s] targets: nothing to listen on", GROUP)
        return 2
    counts = Counts(opts.counts_file, opts.pool, targets)
    counts.write()

    transport = oslo_messaging.get_notification_transport(conf)
    listeners = [
        oslo_messaging.get_notification_listener(
            transport,
            [oslo_messaging.Target(exchange=exchange, topic=topic)],
            [CountingEndpoint(f"{exchange}/{topic}", counts)],
            executor="threading",
            pool=opts.pool,
        )
        for exchange, topic in targets
    ]

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    for listener in listeners:
        listener.start()
    LOG.info(
        "listening in pool %s on %s (priorities %s), counts in %s",
        opts.pool,
        ", ".join(f"{e}/{t}" for e, t in targets),
        ",".join(PRIORITIES),
        opts.counts_file,
    )
    while not stop.wait(1.0):
        pass
    LOG.info("stopping after %d notifications", counts.total)
    for listener in listeners:
        listener.stop()
    for listener in listeners:
        listener.wait()
    transport.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
