"""The proxy's snapshot as Prometheus metrics (GET /metrics), through prometheus_client.

The collector reads the snapshot the routing loop builds every 0.25 s (the same
dict /stats serves as JSON): a scrape never touches the routing state itself.
prometheus_client is the ``proxy`` extra of the package; without it the proxy
still routes and serves /healthz and /stats, and /metrics answers 503.
"""

from __future__ import annotations

import gzip
import importlib.metadata
from collections.abc import Callable, Iterator

from oslo_messaging_zmq.routing import Counters

try:
    from prometheus_client import CollectorRegistry, exposition
    from prometheus_client.core import (
        CounterMetricFamily,
        GaugeMetricFamily,
        InfoMetricFamily,
        Metric,
    )
except ImportError:  # the "proxy" extra is not installed
    CollectorRegistry = None

PREFIX = "oslo_messaging_zmq_proxy_"
TARGET = "target"
MISSING = (
    "prometheus_client is not installed: install oslo.messaging.zmq[proxy] "
    "(or Debian's python3-prometheus-client) for GET /metrics"
)

# What each counter of routing.Counters counts; the ones in Counters.PER_TARGET carry a
# `target` label (their sum over targets is the proxy's total), the others have none.
COUNTER_HELP = {
    "received": "Messages received from peers (every type: sends, registrations, heartbeats).",
    "routed": "Message copies handed to a listener.",
    "held": "Messages parked until a listener of their target registers.",
    "delivered_from_hold": "Held messages delivered once a listener registered.",
    "dropped": "Messages dropped: no listener within the hold TTL, hold store full, or unsendable.",
    "expired": "Held messages whose TTL ran out before any listener registered.",
    "busy": "Sends answered BUSY: the chosen listener's queue was full (back-pressure).",
    "malformed": "Frames that were not a valid message of the wire protocol.",
    "acks": "Acknowledgements relayed from listeners to senders.",
    "replies": "RPC replies relayed from listeners to callers.",
    "auth_allowed": "CURVE handshakes accepted.",
    "auth_denied": "CURVE handshakes refused (key not in allowed_clients).",
    "stalls": "Times the proxy found itself stalled (frozen) longer than peer_timeout/2.",
    "identity_denied": "Messages from a routing id bound to another CURVE key (dropped).",
    "revoked": "Messages from a key removed from allowed_clients (answered 'key revoked').",
    "acl_denied": "Registrations and sends the key's listen/send permissions refused.",
    "reply_denied": "Replies and acks not from the listener the message went to (dropped).",
    "confirmed": "'taken' acks confirmed to their listener (it may run the message).",
    "confirmed_again": "'taken' acks asked about again (the listener lost the answer) and "
    "confirmed from memory.",
    "refused_late": "'taken' acks refused as late (sender told 'released'; the listener "
    "does not run the message).",
    "refused_resent": "'taken' acks refused because the cast, sent again, went to another "
    "listener through this proxy.",
    "resend_taken": "Casts sent again that this proxy had confirmed to a listener meanwhile "
    "(answered 'taken' for it, not routed).",
    "native_handled": "Messages the native core handled by itself (core native or auto); the "
    "others took the Python path.",
}


class MissingClient(RuntimeError):
    """prometheus_client cannot be imported."""


def _version() -> str:
    try:
        return importlib.metadata.version("oslo.messaging.zmq")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


class SnapshotCollector:
    """A prometheus_client collector yielding the families of the latest snapshot."""

    def __init__(self, snapshot: Callable[[], dict]) -> None:
        self._snapshot = snapshot
        self._version = _version()

    def collect(self) -> Iterator[Metric]:
        snap = self._snapshot()
        if not snap:
            return
        yield from self._counters(snap)
        yield from _gauges(snap)
        yield InfoMetricFamily(
            PREFIX.rstrip("_"),
            "The proxy: driver package version, security mode, routing core, ROUTER endpoint.",
            value={
                "version": self._version,
                "security_mode": str(snap.get("security_mode", "")),
                "core": str(snap.get("core", "")),
                "endpoint": str(snap.get("endpoint", "")),
            },
        )

    def _counters(self, snap: dict) -> Iterator[Metric]:
        targets = snap.get("targets", {})
        for name, total in sorted(snap.get("counters", {}).items()):
            doc = COUNTER_HELP.get(name, "Proxy counter %s." % name)
            if name not in Counters.PER_TARGET:
                yield CounterMetricFamily(PREFIX + name + "_total", doc, value=total)
                continue
            family = CounterMetricFamily(PREFIX + name + "_total", doc, labels=[TARGET])
            for label, entry in sorted(targets.items()):
                family.add_metric([label], entry.get(name, 0))
            yield family


def _gauges(snap: dict) -> Iterator[Metric]:
    held = snap.get("held_now", {})
    peers = snap.get("peers", {})
    yield GaugeMetricFamily(
        PREFIX + "held_messages", "Messages held now.", value=held.get("messages", 0)
    )
    yield GaugeMetricFamily(
        PREFIX + "held_bytes", "Bytes of the messages held now.", value=held.get("bytes", 0)
    )
    family = GaugeMetricFamily(
        PREFIX + "peers", "Live peers: listeners registered, clients seen.", labels=["role"]
    )
    for role, key in (("listener", "listeners"), ("client", "clients")):
        family.add_metric([role], peers.get(key, 0))
    yield family
    family = GaugeMetricFamily(
        PREFIX + "target_listeners", "Live listeners registered for a target.", labels=[TARGET]
    )
    for label, entry in sorted(snap.get("targets", {}).items()):
        family.add_metric([label], entry.get("listeners", 0))
    yield family
    yield GaugeMetricFamily(
        PREFIX + "resident_memory_bytes", "Resident set size.", value=snap.get("rss_bytes", 0)
    )
    yield GaugeMetricFamily(
        PREFIX + "uptime_seconds", "Seconds since start.", value=snap.get("uptime_seconds", 0)
    )
    for key, name, doc in (
        ("_started", "start_time_seconds", "Start time, seconds since the epoch."),
        ("_at", "last_refresh_timestamp_seconds", "When the routing loop last refreshed this."),
    ):
        if key in snap:
            yield GaugeMetricFamily(PREFIX + name, doc, value=snap[key])


class Exporter:
    """A private registry holding one SnapshotCollector, rendered per request."""

    def __init__(self, snapshot: Callable[[], dict]) -> None:
        if CollectorRegistry is None:
            raise MissingClient(MISSING)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(SnapshotCollector(snapshot))

    def render(self, accept: str = "", accept_encoding: str = "") -> tuple[bytes, dict[str, str]]:
        """Body and headers for the client's Accept (text 0.0.4 unless it asks OpenMetrics)."""
        encoder, content_type = exposition.choose_encoder(accept)
        body = encoder(self.registry)
        headers = {"Content-Type": content_type}
        if "gzip" in accept_encoding:
            body = gzip.compress(body)
            headers["Content-Encoding"] = "gzip"
        return body, headers
