"""DEALER sockets of one peer (client or listener) to every proxy of the URL.

All sockets of a peer share one routing id, so a proxy can route a reply to
the caller whichever proxy the reply comes through.  Liveness of each proxy is
tracked from PONG answers to periodic pings and from socket monitor events
(disconnects are noticed at once, handshake failures are kept as the reason
shown to the user).
"""

from __future__ import annotations

import errno
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import zmq
from zmq.utils import monitor as zmq_monitor

from oslo_messaging_zmq import security, wire
from oslo_messaging_zmq.ioloop import IOLoop, send_frames

LOG = logging.getLogger(__name__)

_MONITOR_EVENTS = (
    zmq.EVENT_HANDSHAKE_SUCCEEDED
    | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
    | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
    | zmq.EVENT_HANDSHAKE_FAILED_AUTH
    | zmq.EVENT_DISCONNECTED
)


# Pauses before a new socket replaces one whose security handshake was refused.
_REFUSAL_RETRY_MIN = 0.5
_REFUSAL_RETRY_MAX = 10.0

# first re-ping after a handshake, doubling while the proxy does not answer
_FIRST_PING_RETRY = 0.002
# A link that carried messages both ways within the last heartbeat_interval skips
# its ping (REGISTER or HELLO): the proxy counts the peer's messages as liveness
# and the peer counts the proxy's. It still pings every PING_REFRESH heartbeats
# (a REGISTER re-checks a listener's permissions on the proxy).
PING_REFRESH = 10

_CONNECTION_ERRNOS = frozenset({errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED, errno.ETIMEDOUT})


@dataclass
class SecurityConfig:
    """What a peer needs to open its sockets: plain, or CURVE keys."""

    mode: str = "plain"
    client_keys: dict[str, bytes] = field(default_factory=dict)
    server_public: bytes | None = None


@dataclass
class LinkSettings:
    """Timings of one transport; the delivery rules derive from these.

    ``ack_timeout`` (option) is how long a sender waits for news of a cast
    before it sends it again.  Derived, documented in driver/README.md:

    * ``report_interval`` = ack_timeout/3: a listener tells the sender of each
      message still waiting for a worker this often;
    * ``park_timeout`` = 2 x ack_timeout: a sender sends a waiting message again
      (to the same listener) when it heard nothing of it for this long;
    * lease = ack_timeout: a listener does not run a message it could not report
      for this long (see listener.py);
    * ``replay_window`` = proxy_timeout + 2 x heartbeat_interval: acks and
      replies sent through a proxy this recently are sent again through another
      one when that proxy disconnects or stops answering.
    """

    heartbeat_interval: float = 1.0
    proxy_timeout: float = 3.0
    ack_timeout: float = 3.0
    hwm: int = 10000
    max_message_size: int = 64 * 1024 * 1024
    confirm_casts: bool = False  # listener.py: run a cast once a proxy confirms its "taken"

    @property
    def report_interval(self) -> float:
        return self.ack_timeout / 3

    @property
    def park_timeout(self) -> float:
        return 2 * self.ack_timeout

    @property
    def replay_window(self) -> float:
        return self.proxy_timeout + 2 * self.heartbeat_interval


def describe_handshake_failure(event: int, value: int) -> str:
    if event == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
        return (
            "authentication rejected by the proxy (status %d): this client's CURVE public "
            "key is not in the proxy's allowed_clients" % value
        )
    if event == zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL:
        return (
            "security handshake failed (protocol error 0x%x): the client and the proxy "
            "disagree on security_mode (CURVE vs plain) or on the proxy's public key" % value
        )
    if value in _CONNECTION_ERRNOS:
        return (
            "connection closed during the handshake (%s): the proxy, or something between "
            "(a load balancer, a firewall), dropped it; a proxy with another security_mode "
            "drops the handshake this way too" % errno.errorcode.get(value, value)
        )
    return "security handshake failed (errno %d): check security_mode and key files" % value


class ProxyLinks:
    """One DEALER per proxy, all owned by the I/O loop."""

    def __init__(
        self,
        io: IOLoop,
        endpoints: list[str],
        identity: bytes,
        sec: SecurityConfig,
        settings: LinkSettings,
        on_message: Callable[[int, bytes, dict, bytes | None], None],
        ping: Callable[[], list[bytes] | None],
        on_down: Callable[[int], None] | None = None,
    ) -> None:
        self.io = io
        self.endpoints = endpoints
        self.identity = identity
        self._sec = sec
        self._settings = settings
        self._on_message = on_message
        self._ping = ping
        self._on_down = on_down
        self._socks: list[zmq.Socket | None] = [None] * len(endpoints)
        self._monitors: dict[zmq.Socket, int] = {}
        self.last_pong = [0.0] * len(endpoints)
        # last message (not a ping or a pong) sent to / received from each proxy,
        # and last ping sent to it
        self._traffic_out = [0.0] * len(endpoints)
        self._traffic_in = [0.0] * len(endpoints)
        self._pinged = [0.0] * len(endpoints)
        self._was_live = [False] * len(endpoints)
        self.errors: list[str | None] = [None] * len(endpoints)
        # the proxy's last PONG said it confirms "taken" ACKs (wire.CONFIRM)
        self.confirms = [False] * len(endpoints)
        self._live = threading.Event()
        self._closed = False
        self._current = int.from_bytes(identity[-2:], "big") % len(endpoints)
        self._refusal_delay = [_REFUSAL_RETRY_MIN] * len(endpoints)
        self._refusal_pending = [False] * len(endpoints)

    # -- any thread ------------------------------------------------------
    def open(self) -> None:
        self.io.call_soon(self._open)

    def close(self) -> None:
        self._closed = True
        self.io.call_soon(self._close)

    @property
    def closed(self) -> bool:
        return self._closed

    def is_live(self, idx: int) -> bool:
        last, timeout = self.last_pong[idx], self._settings.proxy_timeout
        now = time.monotonic()
        if now - last < timeout:
            return True
        # This process did not run (frozen, VM paused): the proxy was not silent, it
        # was.  A proxy live when the stall began gets proxy_timeout from the thaw to
        # answer, instead of being declared down and what went through it replayed
        # elsewhere before its answers, waiting in the socket, are read.
        thawed_at, length = self.io.last_stall
        return last > 0 and now - thawed_at < timeout and thawed_at - length - last < timeout

    def live_indices(self) -> list[int]:
        return [i for i in range(len(self.endpoints)) if self.is_live(i)]

    def wait_live(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not self.live_indices():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self._live.clear()
            if self.live_indices():
                return True
            self._live.wait(min(left, 0.5))
        return True

    def failure_reason(self) -> str:
        parts = []
        for endpoint, err in zip(self.endpoints, self.errors, strict=True):
            parts.append("%s: %s" % (endpoint, err or "no answer"))
        return "; ".join(parts)

    # -- loop context ----------------------------------------------------
    def send(self, idx: int, frames: list[bytes]) -> bool:
        if self._send_raw(idx, frames):
            self._traffic_out[idx] = time.monotonic()
            return True
        return False

    def _send_raw(self, idx: int, frames: list[bytes]) -> bool:
        sock = self._socks[idx]
        if sock is None:
            return False
        try:
            send_frames(sock, frames)
            return True
        except zmq.ZMQError:
            return False

    def send_any(self, frames: list[bytes], prefer: int | None = None) -> int | None:
        """Send through prefer if live, else the next live proxy; return its index."""
        count = len(self.endpoints)
        if prefer is None:
            # stick to one proxy while it works: a proxy's round robin over the
            # listeners of a topic is then exact for this sender's messages
            prefer = self._current
        for step in range(count):
            idx = (prefer + step) % count
            if self.is_live(idx) and self.send(idx, frames):
                self._current = idx
                return idx
        return None

    def _open(self) -> None:
        if self._closed:
            return
        for idx in range(len(self.endpoints)):
            self._open_link(idx)
        self._heartbeat()

    def _open_link(self, idx: int) -> None:
        endpoint = self.endpoints[idx]
        sock = self.io.context.socket(zmq.DEALER)
        sock.setsockopt(zmq.ROUTING_ID, self.identity)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.SNDHWM, self._settings.hwm)
        sock.setsockopt(zmq.RCVHWM, self._settings.hwm)
        sock.setsockopt(zmq.MAXMSGSIZE, self._settings.max_message_size)
        sock.setsockopt(zmq.RECONNECT_IVL, 100)
        sock.setsockopt(zmq.RECONNECT_IVL_MAX, 1000)
        sock.setsockopt(zmq.IMMEDIATE, 1)
        if self._sec.mode == "curve":
            security.configure_client(sock, self._sec.client_keys, self._sec.server_public)
        mon = sock.get_monitor_socket(_MONITOR_EVENTS)
        try:
            sock.connect(endpoint)
        except zmq.ZMQError as exc:
            # e.g. a host name that does not resolve: keep the other proxies,
            # close this socket now (an open one would hang Context.term)
            self.errors[idx] = "cannot connect: %s" % exc
            LOG.error("zmq proxy %s: cannot connect: %s", endpoint, exc)
            sock.disable_monitor()
            mon.close(linger=0)
            sock.close(linger=0)
            return
        self._monitors[mon] = idx
        self.io.add_socket(mon, lambda frames, m=mon: self._on_monitor(m, frames))
        self._socks[idx] = sock
        self.io.add_socket(sock, lambda frames, i=idx: self._on_frames(i, frames))

    def _drop_link(self, idx: int) -> None:
        sock = self._socks[idx]
        if sock is None:
            return
        self._socks[idx] = None
        try:
            sock.disable_monitor()
        except zmq.ZMQError:
            pass
        self.io.remove_socket(sock)
        for mon, mon_idx in list(self._monitors.items()):
            if mon_idx == idx:
                del self._monitors[mon]
                self.io.remove_socket(mon)

    def _retry_after_refusal(self, idx: int) -> None:
        """libzmq never reconnects a socket whose security handshake failed.

        The proxy may admit this client's key a moment later (its allowed_clients
        directory is re-read when it changes, e.g. while a deployment adds a
        host) or be reconfigured to the same security mode: open a new socket
        after a growing pause (0.5 s doubling up to 10 s) until one is admitted.
        """
        if self._refusal_pending[idx]:
            return
        self._refusal_pending[idx] = True
        delay = self._refusal_delay[idx]
        self._refusal_delay[idx] = min(delay * 2, _REFUSAL_RETRY_MAX)

        def reopen() -> None:
            self._refusal_pending[idx] = False
            if self._closed:
                return
            self._drop_link(idx)
            self._open_link(idx)

        self.io.call_later(delay, reopen)

    def _close(self) -> None:
        for idx in range(len(self._socks)):
            self._drop_link(idx)
        for mon in list(self._monitors):
            self.io.remove_socket(mon)
        self._monitors.clear()
        self._live.set()

    def _heartbeat(self) -> None:
        if self._closed:
            return
        frames = self._ping()
        if frames is not None:
            now = time.monotonic()
            for idx in range(len(self.endpoints)):
                if not self._carried(idx, now):
                    self._send_ping(idx, frames, now)
        for idx in range(len(self.endpoints)):
            if self._was_live[idx] and not self.is_live(idx):
                self._was_live[idx] = False
                LOG.warning(
                    "zmq proxy %s stopped answering for %.1f s",
                    self.endpoints[idx],
                    self._settings.proxy_timeout,
                )
                if self._on_down is not None:
                    self._on_down(idx)
        if not self.live_indices():
            self._live.clear()
        self.io.call_later(self._settings.heartbeat_interval, self._heartbeat)

    def _carried(self, idx: int, now: float) -> bool:
        """Did the link carry messages both ways since the last heartbeat (so that
        a ping would tell neither side anything new)?"""
        interval = self._settings.heartbeat_interval
        since = now - interval
        return (
            self._traffic_in[idx] > since
            and self._traffic_out[idx] > since
            and now - self._pinged[idx] < PING_REFRESH * interval
        )

    def _send_ping(self, idx: int, frames: list[bytes], now: float) -> bool:
        if self._send_raw(idx, frames):
            self._pinged[idx] = now
            return True
        return False

    def ping_now(self, idx: int) -> bool:
        frames = self._ping()
        return frames is not None and self._send_ping(idx, frames, time.monotonic())

    def _ping_until_answered(self, idx: int, delay: float) -> None:
        """Ping a proxy whose handshake just succeeded until it answers.

        libzmq reports the handshake before the connection takes messages
        (with the NULL mechanism always: IMMEDIATE refuses the first ping), so
        one ping is not enough; the next heartbeat would come up to
        heartbeat_interval later, and every first message waits for it.
        """
        if self._closed or self._socks[idx] is None or self.is_live(idx):
            return
        self.ping_now(idx)
        if delay < self._settings.heartbeat_interval / 2:
            self.io.call_later(delay, lambda: self._ping_until_answered(idx, delay * 2))

    def _on_frames(self, idx: int, frames: list[bytes]) -> None:
        try:
            mtype, header, body = wire.decode(frames)
        except wire.WireError as exc:
            LOG.warning("dropping malformed message from proxy %s: %s", self.endpoints[idx], exc)
            return
        if mtype == wire.STATUS and header.get(wire.F_WHY) == wire.KEY_REVOKED:
            # the proxy no longer admits this service's key: it is not a live proxy
            # for this peer, and the reason is worth one clear line
            reason = (
                "the proxy revoked this service's CURVE key (it left the proxy's "
                "allowed_clients): nothing is routed for it any more"
            )
            if self.errors[idx] != reason:
                LOG.error("zmq proxy %s: %s", self.endpoints[idx], reason)
            self.errors[idx] = reason
            self.last_pong[idx] = 0.0
            if header.get(wire.F_ID):
                self._on_message(idx, mtype, header, body)
            return
        if mtype == wire.STATUS and not header.get(wire.F_ID):
            why = header.get(wire.F_WHY)
            if isinstance(why, str) and why.startswith(wire.NOT_PERMITTED):
                # a target of this listener the proxy refuses (once a minute per target)
                LOG.error(
                    "zmq proxy %s: %s (the permissions in this service's key file on the "
                    "proxies do not allow it; nothing is routed there for this service)",
                    self.endpoints[idx],
                    why,
                )
        was_live = self.is_live(idx)
        now = self.last_pong[idx] = time.monotonic()
        self._was_live[idx] = True
        self.errors[idx] = None
        if not was_live:
            self._live.set()
        if mtype != wire.PONG:
            self._traffic_in[idx] = now
            self._on_message(idx, mtype, header, body)
        else:
            self.confirms[idx] = bool(header.get(wire.F_CONFIRM))

    def _on_monitor(self, mon: zmq.Socket, frames: list[bytes]) -> None:
        idx = self._monitors.get(mon)
        if idx is None:
            return
        try:
            event = zmq_monitor.parse_monitor_message(frames)
        except Exception:
            return
        kind, value = event["event"], event["value"]
        if kind == zmq.EVENT_HANDSHAKE_SUCCEEDED:
            self._refusal_delay[idx] = _REFUSAL_RETRY_MIN
            self._ping_until_answered(idx, _FIRST_PING_RETRY)
        elif kind == zmq.EVENT_DISCONNECTED:
            if self.last_pong[idx]:
                LOG.info("lost connection to zmq proxy %s", self.endpoints[idx])
            self.last_pong[idx] = 0.0
            was_live, self._was_live[idx] = self._was_live[idx], False
            if was_live and self._on_down is not None:
                self._on_down(idx)
        else:
            reason = describe_handshake_failure(kind, value)
            refused = kind in (zmq.EVENT_HANDSHAKE_FAILED_AUTH, zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL)
            if not refused and self.errors[idx] and self._refusal_delay[idx] > _REFUSAL_RETRY_MIN:
                # The socket reopened after a refusal is often dropped before the proxy
                # answers it: the refusal stays the reason until a handshake succeeds.
                reason = self.errors[idx]
            if self.errors[idx] != reason:
                LOG.error("zmq proxy %s: %s", self.endpoints[idx], reason)
            self.errors[idx] = reason
            self.last_pong[idx] = 0.0
            if refused:
                self._retry_after_refusal(idx)
