"""Sending side of a transport: casts, calls and notifications through the proxies.

Every message gets an id.  It is sent through one live proxy and stays in
the in-flight table until it is acknowledged, either end-to-end by the
listener that received it (ACK, relayed by the proxy) or by the proxy itself
(STATUS: held for a target without listener, or routed to several listeners
for fanout).  Unacknowledged messages are re-sent through the next live proxy
after ``ack_timeout`` or shortly after their proxy disconnects; listeners drop
duplicates by id.  A call is acknowledged by its reply: it is re-sent only when
its proxy goes away (the listener answers a duplicate from its reply cache).
Casts return once the message is queued to a live proxy; the in-flight
window (``max_inflight``) bounds what may still be re-sent.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from dataclasses import dataclass

import oslo_messaging
from oslo_messaging._drivers import common as rpc_common

from oslo_messaging_zmq import wire
from oslo_messaging_zmq.ioloop import IOLoop, make_queue
from oslo_messaging_zmq.links import LinkSettings, ProxyLinks, SecurityConfig

LOG = logging.getLogger(__name__)

_TICK = 0.1
# After a proxy disconnects, wait this long before re-sending what went through
# it, so that acknowledgements the listeners re-send through another proxy
# arrive first and messages already delivered are not delivered twice.
_DOWN_GRACE = 0.3


@dataclass
class _Pending:
    frames: list[bytes]
    is_call: bool
    max_attempts: int | None  # None: unlimited
    attempts: int = 0
    proxy: int | None = None
    sent_at: float = 0.0
    acked: bool = False  # calls stay in flight after the ack, until the reply


class Sender:
    def __init__(
        self,
        io: IOLoop,
        endpoints: list[str],
        sec: SecurityConfig,
        settings: LinkSettings,
        ack_timeout: float,
        connect_timeout: float,
        max_inflight: int,
        default_retries: int,
    ) -> None:
        self._io = io
        self._ack_timeout = ack_timeout
        self._connect_timeout = connect_timeout
        self._default_retries = default_retries
        self._waiters: dict = {}
        self._inflight: dict[str, _Pending] = {}
        self._window = threading.BoundedSemaphore(max_inflight)
        self._window_size = max_inflight
        self.links = ProxyLinks(
            io,
            endpoints,
            b"c" + uuid.uuid4().bytes,
            sec,
            settings,
            self._on_message,
            lambda: wire.encode(wire.HELLO, {}),
            self._on_proxy_down,
        )
        self.links.open()
        io.call_soon(self._tick)
        self.lost = 0

    # -- caller side -------------------------------------------------------
    def _attempts(self, retry: int | None) -> int | None:
        if retry is None:
            retry = self._default_retries
        if retry is None or retry < 0:
            return None
        return retry + 1

    def _wait_for_proxy(self, timeout: float) -> bool:
        return self.links.wait_live(timeout)

    def cast(self, header: dict, body: bytes, retry: int | None) -> None:
        """Queue a one-way message; raise MessageDeliveryFailure if no proxy is reachable."""
        attempts = self._attempts(retry)
        wait = self._connect_timeout
        if attempts is not None:
            wait = min(wait, max(self._ack_timeout, 1.0) * attempts)
        if not self._wait_for_proxy(wait):
            raise oslo_messaging.MessageDeliveryFailure(
                "no zmq proxy reachable (%s)" % self.links.failure_reason()
            )
        self._window.acquire()
        msg_id = uuid.uuid4().hex
        header["id"] = msg_id
        pending = _Pending(wire.encode(wire.SEND, header, body), False, attempts)
        self._io.call_soon(self._submit, msg_id, pending)

    def call(
        self,
        header: dict,
        body: bytes,
        timeout: float | None,
        monitor_timeout: float | None,
        retry: int | None,
    ) -> dict:
        """Send a request and return the decoded final reply (raises MessagingTimeout)."""
        start = time.monotonic()
        deadline = None if timeout is None else start + timeout
        msg_id = uuid.uuid4().hex
        header["id"] = msg_id
        header["r"] = 1
        if timeout is not None:
            header["ttl"] = float(timeout)
        replies = make_queue()
        self._waiters[msg_id] = replies
        try:
            first_wait = self._connect_timeout if deadline is None else timeout
            if not self._wait_for_proxy(first_wait):
                raise oslo_messaging.MessagingTimeout(
                    "Timed out waiting for a reply to message ID %s: no zmq proxy reachable "
                    "(%s)" % (msg_id, self.links.failure_reason())
                )
            pending = _Pending(wire.encode(wire.SEND, header, body), True, self._attempts(retry))
            self._io.call_soon(self._submit, msg_id, pending)
            return self._wait_reply(msg_id, replies, deadline, monitor_timeout, header)
        finally:
            self._waiters.pop(msg_id, None)
            self._io.call_soon(self._forget, msg_id)

    def _wait_reply(self, msg_id, replies, deadline, monitor_timeout, request) -> dict:
        monitor_deadline = None
        if monitor_timeout:
            monitor_deadline = time.monotonic() + monitor_timeout
        while True:
            limits = [d for d in (deadline, monitor_deadline) if d is not None]
            wait = None if not limits else max(0.0, min(limits) - time.monotonic())
            try:
                kind, header, body = replies.get(timeout=wait)
            except queue.Empty:
                raise oslo_messaging.MessagingTimeout(
                    "Timed out waiting for a reply to message ID %s" % msg_id
                ) from None
            if kind == "unroutable":
                raise oslo_messaging.MessageUndeliverable(
                    oslo_messaging.MessageDeliveryFailure(header),
                    request.get("ex"),
                    request.get("t"),
                    None,
                )
            if kind == "undeliverable":
                raise oslo_messaging.MessageDeliveryFailure(
                    "message %s could not be delivered: %s" % (msg_id, header)
                )
            if kind != "reply":
                continue
            if monitor_timeout:
                monitor_deadline = time.monotonic() + monitor_timeout
            if header.get("hb"):
                continue
            return rpc_common.jsonutils.loads(body) if body else {}

    def flush(self, timeout: float) -> int:
        """Wait until every cast is acknowledged or timeout; return what is left."""
        deadline = time.monotonic() + timeout
        while self._inflight and time.monotonic() < deadline:
            time.sleep(0.05)
        return len(self._inflight)

    def close(self) -> None:
        self.links.close()

    # -- loop context ----------------------------------------------------------
    def _submit(self, msg_id: str, pending: _Pending) -> None:
        self._inflight[msg_id] = pending
        self._transmit(msg_id, pending)

    def _transmit(self, msg_id: str, pending: _Pending) -> None:
        if pending.max_attempts is not None and pending.attempts >= pending.max_attempts:
            self._give_up(
                msg_id, pending, "no acknowledgement after %d attempts" % pending.attempts
            )
            return
        prefer = None
        if pending.proxy is not None and pending.attempts:
            prefer = (pending.proxy + 1) % len(self.links.endpoints)
        idx = self.links.send_any(pending.frames, prefer)
        pending.sent_at = time.monotonic()
        pending.attempts += 1
        if idx is not None:
            pending.proxy = idx
            # calls are not acknowledged (the reply is): once handed to a live
            # proxy they are re-sent only if that proxy goes away
            pending.acked = pending.is_call

    def _give_up(self, msg_id: str, pending: _Pending, reason: str, unroutable=False) -> None:
        self._inflight.pop(msg_id, None)
        if pending.is_call:
            waiter = self._waiters.get(msg_id)
            if waiter is not None:
                waiter.put(("unroutable" if unroutable else "undeliverable", reason, None))
        else:
            self.lost += 1
            LOG.error("zmq: dropping message %s: %s", msg_id, reason)
            self._window.release()

    def _forget(self, msg_id: str) -> None:
        self._inflight.pop(msg_id, None)

    def _acked(self, msg_id: str, final: bool = False) -> None:
        pending = self._inflight.get(msg_id)
        if pending is None:
            return
        if pending.is_call and not final:
            pending.acked = True
            return
        del self._inflight[msg_id]
        if not pending.is_call:
            self._window.release()

    def _on_message(self, idx: int, mtype: bytes, header: dict, body: bytes | None) -> None:
        msg_id = header.get("id")
        if not isinstance(msg_id, str):
            return
        if mtype in (wire.ACK, wire.STATUS):
            status = header.get("st")
            if status == "dropped":
                pending = self._inflight.get(msg_id)
                if pending is not None:
                    why = header.get("why")
                    self._give_up(
                        msg_id, pending, "dropped by proxy: %s" % why, why == "no listener"
                    )
                return
            if header.get("w"):
                # parked at a busy listener: stop re-sending, keep the window slot
                pending = self._inflight.get(msg_id)
                if pending is not None:
                    pending.acked = True
                return
            self._acked(msg_id)
        elif mtype == wire.REPLY:
            self._acked(msg_id, final=not header.get("hb"))
            waiter = self._waiters.get(msg_id)
            if waiter is not None:
                waiter.put(("reply", header, body))

    def _on_proxy_down(self, idx: int) -> None:
        self._io.call_later(_DOWN_GRACE, self._resend_after_down, idx)

    def _resend_after_down(self, idx: int) -> None:
        for msg_id, pending in list(self._inflight.items()):
            if pending.acked and not pending.is_call:
                continue  # parked at a listener: its final ack comes via any proxy
            if pending.proxy == idx and msg_id in self._inflight:
                # acked calls too: their reply may have been lost with the proxy;
                # the listener answers a duplicate with its cached reply
                pending.acked = False
                self._transmit(msg_id, pending)

    def _tick(self) -> None:
        if self.links._closed:
            return
        now = time.monotonic()
        for msg_id, pending in list(self._inflight.items()):
            if pending.acked:
                if not pending.is_call:
                    continue
                if pending.proxy is not None and not self.links.is_live(pending.proxy):
                    pending.acked = False
                    self._transmit(msg_id, pending)
            elif now - pending.sent_at >= self._ack_timeout:
                self._transmit(msg_id, pending)
        self._io.call_later(_TICK, self._tick)
