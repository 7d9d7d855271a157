"""Receiving side: RPC and notification listeners and their incoming messages."""

from __future__ import annotations

import collections
import logging
import queue
import time
import uuid

from oslo_messaging._drivers import base
from oslo_messaging._drivers import common as rpc_common
from oslo_serialization import jsonutils

from oslo_messaging_zmq import wire
from oslo_messaging_zmq.dedup import Deduplicator
from oslo_messaging_zmq.ioloop import IOLoop, make_queue
from oslo_messaging_zmq.links import LinkSettings, ProxyLinks, SecurityConfig

LOG = logging.getLogger(__name__)

_REPLY_RETRY_INTERVAL = 0.2
_REPLY_RETRIES = 50
# acks/replies sent through a proxy in this window are re-sent through another
# proxy if that one disconnects (they may have died inside it)
_RESEND_WINDOW = 2.0
_REPLY_CACHE = 2000
# Above this many received messages not yet taken by a worker (acknowledge()),
# delivery acks are deferred until a worker takes them: the senders' in-flight
# windows then bound the backlog (and its latency), not an unbounded queue.
BACKLOG_MARK = 256


class _Settling:
    """acknowledge()/requeue() tell the listener a worker took the message."""

    _listener = None
    _settled = False
    deferred_ack = None

    def _settle(self) -> None:
        if not self._settled and self._listener is not None:
            self._settled = True
            self._listener.settled(self)


class NotificationIncoming(_Settling, base.IncomingMessage):
    def __init__(self, listener, ctxt, message):
        super().__init__(ctxt, message)
        self._listener = listener

    def acknowledge(self) -> None:
        self._settle()

    def requeue(self) -> None:
        """Requeue is not supported (require_features(requeue=True) refuses it)."""
        self._settle()


class RpcIncoming(_Settling, base.RpcIncomingMessage):
    def __init__(self, listener, ctxt, message, msg_id, reply_to, proxy, client_timeout):
        super().__init__(ctxt, message, msg_id)
        self._listener = listener
        self._reply_to = reply_to
        self._proxy = proxy
        self.client_timeout = client_timeout

    def acknowledge(self) -> None:
        self._settle()

    def requeue(self) -> None:
        """Not supported."""
        self._settle()

    def reply(self, reply=None, failure=None) -> None:
        if self._reply_to is None:
            return
        if failure is not None:
            failure = rpc_common.serialize_remote_exception(failure)
        body = jsonutils.dump_as_bytes({"result": reply, "failure": failure})
        header = {"id": self.msg_id, "to": self._reply_to}
        self._listener.send_reply(wire.encode(wire.REPLY, header, body), self._proxy, self.msg_id)

    def heartbeat(self) -> None:
        if self._reply_to is None:
            return
        header = {"id": self.msg_id, "to": self._reply_to, "hb": 1}
        self._listener.send_reply(wire.encode(wire.REPLY, header), self._proxy)


class ZmqListener(base.PollStyleListener):
    """Listener for a set of targets: (kind, exchange, topic, server-or-pool)."""

    def __init__(
        self,
        io: IOLoop,
        endpoints: list[str],
        sec: SecurityConfig,
        settings: LinkSettings,
        targets: list[tuple[str, str, str, str]],
        dedup: Deduplicator,
        notifications: bool,
    ) -> None:
        super().__init__()
        self._io = io
        self._targets = [list(t) for t in targets]
        self._dedup = dedup
        self._notifications = notifications
        self._incoming = make_queue()
        self._outstanding = 0  # received, not yet acknowledged by a worker
        self._deferred_ids: set[str] = set()
        self._stopped = False
        self._replies: collections.OrderedDict[str, list[bytes]] = collections.OrderedDict()
        self._recent: list[collections.deque] = [collections.deque() for _endpoint in endpoints]
        self.links = ProxyLinks(
            io,
            endpoints,
            b"s" + uuid.uuid4().bytes,
            sec,
            settings,
            self._on_message,
            self._ping,
            self._on_proxy_down,
        )
        self.links.open()

    # -- loop context ----------------------------------------------------------
    def _ping(self) -> list[bytes] | None:
        if self._stopped:
            return None
        return wire.encode(wire.REGISTER, {"targets": self._targets})

    def _on_message(self, idx: int, mtype: bytes, header: dict, body: bytes | None) -> None:
        if mtype != wire.DELIVER or self._stopped:
            return
        msg_id = header.get("id")
        sender = header.get("from")
        if not isinstance(msg_id, str) or body is None:
            return
        if self._dedup.seen(msg_id):
            if msg_id in self._deferred_ids:
                return  # queued here; its ack comes when the executor takes it
            self._ack(idx, header, msg_id, sender)
            cached = self._replies.get(msg_id)
            if cached is not None:
                self._send_tracked(cached, idx)
            return
        try:
            incoming = self._build(idx, header, msg_id, sender, body)
        except Exception as exc:
            LOG.error("zmq: undecodable message %s dropped (%s)", msg_id, type(exc).__name__)
            self._ack(idx, header, msg_id, sender)
            return
        self._outstanding += 1
        if header.get("a") and self._outstanding > BACKLOG_MARK:
            incoming.deferred_ack = (idx, header, msg_id, sender)
            self._deferred_ids.add(msg_id)
            if isinstance(sender, str):
                # tell the sender it is here (no re-send elsewhere), keep its slot
                interim = {"id": msg_id, "to": sender, "w": 1}
                self._send_tracked(wire.encode(wire.ACK, interim), idx)
        self._incoming.put(incoming)
        if incoming.deferred_ack is None:
            self._ack(idx, header, msg_id, sender)

    def settled(self, incoming) -> None:
        """A worker took the message (any thread)."""
        self._io.call_soon(self._settle, incoming)

    def _settle(self, incoming) -> None:
        self._outstanding -= 1
        if incoming.deferred_ack is not None:
            idx, header, msg_id, sender = incoming.deferred_ack
            self._deferred_ids.discard(msg_id)
            self._ack(idx, header, msg_id, sender)

    def _ack(self, idx: int, header: dict, msg_id: str, sender) -> None:
        if header.get("a") and isinstance(sender, str):
            self._send_tracked(wire.encode(wire.ACK, {"id": msg_id, "to": sender}), idx)

    def _send_tracked(self, frames: list[bytes], prefer: int) -> int | None:
        idx = self.links.send_any(frames, prefer)
        if idx is not None:
            recent = self._recent[idx]
            now = time.monotonic()
            recent.append((now, frames))
            while recent and now - recent[0][0] > _RESEND_WINDOW:
                recent.popleft()
        return idx

    def _on_proxy_down(self, idx: int) -> None:
        recent, self._recent[idx] = self._recent[idx], collections.deque()
        now = time.monotonic()
        for stamp, frames in recent:
            if now - stamp <= _RESEND_WINDOW:
                self._send_tracked(frames, (idx + 1) % len(self._recent))

    def _build(self, idx: int, header: dict, msg_id: str, sender, body: bytes):
        payload = jsonutils.loads(body)
        ctxt = payload.get("c") or {}
        message = payload.get("m")
        if self._notifications:
            return NotificationIncoming(self, ctxt, rpc_common.deserialize_msg(message))
        reply_to = sender if header.get("r") else None
        return RpcIncoming(self, ctxt, message, msg_id, reply_to, idx, payload.get("t"))

    def send_reply(self, frames: list[bytes], proxy: int, msg_id: str | None = None) -> None:
        self._io.call_soon(self._send_reply, frames, proxy, 0, msg_id)

    def _send_reply(self, frames: list[bytes], proxy: int, attempt: int, msg_id=None) -> None:
        if msg_id is not None:
            self._replies[msg_id] = frames
            while len(self._replies) > _REPLY_CACHE:
                self._replies.popitem(last=False)
        if self._send_tracked(frames, proxy) is not None:
            return
        if attempt >= _REPLY_RETRIES:
            LOG.error("zmq: reply could not be sent, no live proxy")
            return
        self._io.call_later(_REPLY_RETRY_INTERVAL, self._send_reply, frames, proxy, attempt + 1)

    # -- PollStyleListener -----------------------------------------------------
    @base.batch_poll_helper
    def poll(self, timeout=None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self._stopped and self._incoming.empty():
                return None
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                item = self._incoming.get(timeout=wait)
            except queue.Empty:
                return None
            if item is not None:
                return item
            if deadline is not None and time.monotonic() >= deadline:
                return None

    def stop(self) -> None:
        self._stopped = True

        def _unregister():
            frames = wire.encode(wire.UNREGISTER, {})
            for idx in range(len(self.links.endpoints)):
                self.links.send(idx, frames)

        self._io.call_soon(_unregister)
        self._incoming.put(None)

    def cleanup(self) -> None:
        self._stopped = True
        self.links.close()
