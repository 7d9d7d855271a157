"""Sending side of a transport: casts, calls and notifications through the proxies.

Every message gets an id and, per target, the sender's next sequence number;
the proxies pick the listener from that number (see routing.py), so a copy
sent again through another proxy reaches the same listener and is recognised
there.  A message stays in the in-flight table until it is settled:

* a cast, fanout or notification by "taken" ACKs from the listeners (one per
  copy the proxy handed out), or by a STATUS "held" (kept by a proxy for a
  listener to come) or "routed" (a fanout nobody listens to);
* a call by its reply.

What the sender does meanwhile (``ack_timeout``, ``park_timeout`` … are defined
in links.LinkSettings):

* no news for ``ack_timeout``: send it again through the next live proxy;
* a "waiting" ACK (queued at a busy listener): wait up to ``park_timeout`` for
  the next news, then send it again pinned to that listener;
* a "released" ACK (a listener gave it back unexecuted): send it again after
  ``ack_timeout``, so that any other listener holding a copy reports first;
* its proxy disconnects or stops answering: send it again after
  ``DOWN_GRACE`` (calls too: the listener answers a copy from its reply cache);
* STATUS "busy" (the listener's queue is full): again after ``BUSY_BACKOFF``.

``cast()`` returns once the message is queued for a live proxy; with a bounded
``retry`` it waits until the message reached a listener or a proxy's hold,
and raises MessageDeliveryFailure when the attempts run out.  At most
``max_inflight`` casts and notifications are unsettled; beyond that ``cast()``
blocks (back-pressure).  A batching notification listener acknowledges a batch
after processing it, so its ACKs carry its batch_size and widen the window by
it: otherwise a window below the batch size would make every batch wait for
batch_timeout.
"""

from __future__ import annotations

import itertools
import logging
import os
import queue
import random
import threading
import time
import uuid
from dataclasses import dataclass, field

import oslo_messaging
from oslo_messaging._drivers import common as rpc_common

from oslo_messaging_zmq import wire
from oslo_messaging_zmq.ioloop import IOLoop, make_reply_slot
from oslo_messaging_zmq.links import LinkSettings, ProxyLinks, SecurityConfig

LOG = logging.getLogger(__name__)

TICK = 0.1  # s between scans of the in-flight table
# After a proxy goes down, wait this long before sending again what went
# through it, so that the acknowledgements listeners replay through another
# proxy arrive first and nothing already delivered is sent again.
DOWN_GRACE = 0.3
BUSY_BACKOFF = 0.2  # s before a message refused with "busy" is sent again
SEQ_TARGETS = 4096  # per-target sequence counters kept (least recently used dropped)
BATCH_WINDOW_MAX = 1024  # the widest window a batching listener's batch_size opens
_NEVER = float("inf")


class _Window:
    """The in-flight window: acquire before sending, release when settled.

    Its size only grows (widen), by releasing the extra permits."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._permits = threading.Semaphore(size)
        self._lock = threading.Lock()

    def acquire(self) -> None:
        self._permits.acquire()

    def release(self) -> None:
        self._permits.release()

    def widen(self, size: int) -> None:
        with self._lock:
            extra = size - self.size
            if extra <= 0:
                return
            self.size = size
        for _unused in range(extra):
            self._permits.release()


@dataclass
class _Pending:
    header: dict
    body: bytes
    is_call: bool
    max_attempts: int | None  # None: unlimited
    attempts: int = 0  # counted against retry
    tries: int = 0  # every transmission, numbered in the header
    proxy: int | None = None
    resend_at: float = _NEVER
    holder: str | None = None  # a listener that reported having it
    taken: dict[int, set[str]] = field(default_factory=dict)  # try -> listeners
    delivered: threading.Event | None = None  # bounded-retry casts wait on it
    sent: threading.Event | None = None  # green casts wait until libzmq has it
    error: str | None = None


class Sender:
    def __init__(
        self,
        io: IOLoop,
        endpoints: list[str],
        sec: SecurityConfig,
        settings: LinkSettings,
        connect_timeout: float,
        max_inflight: int,
        default_retries: int,
    ) -> None:
        self._io = io
        self._settings = settings
        self._ack_timeout = settings.ack_timeout
        self._connect_timeout = connect_timeout
        self._default_retries = default_retries
        self._waiters: dict = {}
        self._inflight: dict[str, _Pending] = {}
        self._max_inflight = max_inflight
        self._window = _Window(max_inflight)
        self._seqs: dict[tuple, int] = {}
        self._seq_lock = threading.Lock()
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
        self._id_prefix = os.urandom(10).hex()
        self._id_counter = itertools.count()
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

    def _new_id(self) -> str:
        """A message id: 80 random bits of this sender, then its counter (32 hex digits,
        like a uuid4's, without reading the random device for every message)."""
        return "%s%012x" % (self._id_prefix, next(self._id_counter))

    def _next_seq(self, header: dict) -> int:
        key = (
            header[wire.F_KIND],
            header[wire.F_EXCHANGE],
            header[wire.F_TOPIC],
            header.get(wire.F_SERVER),
        )
        with self._seq_lock:
            seq = self._seqs.pop(key, None)
            if seq is None:
                seq = random.getrandbits(30)
            self._seqs[key] = seq + 1  # re-inserted last: the dict is in LRU order
            if len(self._seqs) > SEQ_TARGETS:
                self._seqs.pop(next(iter(self._seqs)))
        return seq

    def cast(self, header: dict, body: bytes, retry: int | None) -> None:
        """Queue a one-way message; raise MessageDeliveryFailure if it cannot go out."""
        attempts = self._attempts(retry)
        wait = self._connect_timeout
        if attempts is not None:
            wait = min(wait, max(self._ack_timeout, 1.0) * attempts)
        if not self.links.wait_live(wait):
            raise oslo_messaging.MessageDeliveryFailure(
                "no zmq proxy reachable (%s)" % self.links.failure_reason()
            )
        self._window.acquire()
        msg_id = self._new_id()
        header[wire.F_ID] = msg_id
        header[wire.F_SEQ] = self._next_seq(header)
        header[wire.F_IDS_OK] = 1
        pending = _Pending(header, body, False, attempts)
        if attempts is not None:
            pending.delivered = threading.Event()
        if pending.delivered is None and self._io.green:
            pending.sent = threading.Event()
        self._io.run_now(self._submit, msg_id, pending)
        if pending.delivered is None:
            if pending.sent is not None:
                # A green I/O loop runs only while some green thread waits. A WSGI worker
                # (uwsgi, mod_wsgi: nova-api, cinder-api under eventlet) goes back to C code
                # after its request and may not run Python again for minutes: hand the
                # message to libzmq (whose own threads send it) before returning.
                pending.sent.wait(self._connect_timeout)
            return
        bound = attempts * (self._settings.park_timeout + 1.0) + self._connect_timeout
        if not pending.delivered.wait(bound):
            pending.error = "no answer within %.0f s" % bound
        if pending.error:
            raise oslo_messaging.MessageDeliveryFailure(
                "message %s could not be delivered: %s" % (msg_id, pending.error)
            )

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
        msg_id = self._new_id()
        header[wire.F_ID] = msg_id
        header[wire.F_CALL] = 1
        header[wire.F_SEQ] = self._next_seq(header)
        if timeout is not None:
            header[wire.F_TTL] = float(timeout)
        replies = make_reply_slot(self._io.green)
        self._waiters[msg_id] = replies
        answered = False
        try:
            first_wait = self._connect_timeout if deadline is None else timeout
            if not self.links.wait_live(first_wait):
                raise oslo_messaging.MessagingTimeout(
                    "Timed out waiting for a reply to message ID %s: no zmq proxy reachable "
                    "(%s)" % (msg_id, self.links.failure_reason())
                )
            pending = _Pending(header, body, True, self._attempts(retry))
            self._io.run_now(self._submit, msg_id, pending)
            result = self._wait_reply(msg_id, replies, deadline, monitor_timeout, header)
            answered = True
            return result
        finally:
            self._waiters.pop(msg_id, None)
            if not answered:
                # the final reply removed it in the loop already: no wake-up for that
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
                    request.get(wire.F_EXCHANGE),
                    request.get(wire.F_TOPIC),
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
            if header.get(wire.F_HB):
                continue
            return rpc_common.jsonutils.loads(body) if body else {}

    def flush(self, timeout: float) -> int:
        """Wait until every cast is settled or timeout; return what is left."""
        deadline = time.monotonic() + timeout
        while self._inflight and time.monotonic() < deadline:
            time.sleep(0.05)
        return len(self._inflight)

    def close(self) -> None:
        self.links.close()

    # -- loop context ----------------------------------------------------------
    def _submit(self, msg_id: str, pending: _Pending) -> None:
        self._inflight[msg_id] = pending
        self._transmit(msg_id, pending, False)

    def _transmit(self, msg_id: str, pending: _Pending, counted: bool = True) -> None:
        if counted and pending.max_attempts is not None:
            if pending.attempts >= pending.max_attempts:
                self._give_up(
                    msg_id, pending, "no acknowledgement after %d attempts" % pending.attempts
                )
                return
        if counted or not pending.attempts:
            pending.attempts += 1
        pending.tries += 1
        header = pending.header
        header[wire.F_TRY] = pending.tries
        if pending.holder is not None:
            header[wire.F_PIN] = pending.holder
        else:
            header.pop(wire.F_PIN, None)
        prefer = None
        if pending.proxy is not None and pending.tries > 1:
            prefer = (pending.proxy + 1) % len(self.links.endpoints)
        idx = self.links.send_any(wire.encode(wire.SEND, header, pending.body), prefer)
        if idx is not None:
            pending.proxy = idx
            if pending.sent is not None:
                pending.sent.set()
        if pending.is_call and idx is not None:
            pending.resend_at = _NEVER  # re-sent only when its proxy goes away
        else:
            pending.resend_at = time.monotonic() + self._ack_timeout

    def _give_up(self, msg_id: str, pending: _Pending, reason: str, unroutable=False) -> None:
        self._inflight.pop(msg_id, None)
        if pending.is_call:
            waiter = self._waiters.get(msg_id)
            if waiter is not None:
                waiter.put(("unroutable" if unroutable else "undeliverable", reason, None))
            return
        self.lost += 1
        LOG.error("zmq: dropping message %s: %s", msg_id, reason)
        pending.error = reason
        self._window.release()
        if pending.delivered is not None:
            pending.delivered.set()

    def _settled(self, msg_id: str, pending: _Pending) -> None:
        del self._inflight[msg_id]
        if not pending.is_call:
            self._window.release()
            if pending.delivered is not None:
                pending.delivered.set()

    def _forget(self, msg_id: str) -> None:
        self._inflight.pop(msg_id, None)

    def _on_message(self, idx: int, mtype: bytes, header: dict, body: bytes | None) -> None:
        if mtype == wire.ACK:
            self._on_ack(header)
        elif mtype == wire.STATUS:
            self._on_status(header)
        elif mtype == wire.REPLY:
            msg_id = header.get(wire.F_ID)
            if not header.get(wire.F_HB):
                pending = self._inflight.get(msg_id)
                if pending is not None and pending.is_call:
                    del self._inflight[msg_id]
            waiter = self._waiters.get(msg_id)
            if waiter is not None:
                waiter.put(("reply", header, body))

    def _on_ack(self, header: dict) -> None:
        batch = header.get(wire.F_BATCH)
        if isinstance(batch, int) and not isinstance(batch, bool) and batch > 1:
            self._widen_for_batch(batch)
        state = header.get(wire.F_STATE)
        by = header.get(wire.F_BY)
        if state == wire.WAITING:
            ids = header.get(wire.F_IDS) or [header.get(wire.F_ID)]
            until = time.monotonic() + self._settings.park_timeout
            for msg_id in ids:
                pending = self._inflight.get(msg_id)
                if pending is None:
                    continue
                pending.resend_at = until
                if not header.get(wire.F_COPIES, 1) > 1:
                    pending.holder = by
                if pending.delivered is not None:
                    pending.delivered.set()  # it reached a listener: cast() may return
            return
        if state == wire.TAKEN and header.get(wire.F_IDS):
            # a listener's "taken" of one turn: single-copy messages, each settled
            for msg_id in header[wire.F_IDS]:
                pending = self._inflight.get(msg_id)
                if pending is not None:
                    self._settled(msg_id, pending)
            return
        msg_id = header.get(wire.F_ID)
        pending = self._inflight.get(msg_id)
        if pending is None:
            return
        if state == wire.RELEASED:
            if pending.holder == by:
                pending.holder = None
            for listeners in pending.taken.values():
                listeners.discard(by)
            pending.resend_at = time.monotonic() + self._ack_timeout
            return
        copies = header.get(wire.F_COPIES)
        if not isinstance(copies, int) or copies <= 1:
            self._settled(msg_id, pending)
            return
        listeners = pending.taken.setdefault(header.get(wire.F_TRY), set())
        listeners.add(by)
        if len(listeners) >= copies:
            self._settled(msg_id, pending)

    def _widen_for_batch(self, batch: int) -> None:
        """A listener collects batch messages before it acknowledges any: let that
        many more be in flight, so its batches fill without waiting for batch_timeout."""
        size = min(self._max_inflight + batch, max(self._max_inflight, BATCH_WINDOW_MAX))
        if size > self._window.size:
            LOG.debug("zmq: a listener batches %d messages: in-flight window %d", batch, size)
            self._window.widen(size)

    def _on_status(self, header: dict) -> None:
        msg_id = header.get(wire.F_ID)
        pending = self._inflight.get(msg_id)
        if pending is None:
            return
        status = header.get(wire.F_STATUS)
        if status == wire.DROPPED:
            why = header.get(wire.F_WHY)
            self._give_up(msg_id, pending, "dropped by proxy: %s" % why, why == wire.NO_LISTENER)
        elif status == wire.BUSY:
            pending.resend_at = time.monotonic() + BUSY_BACKOFF
            pending.attempts -= 1  # the listener is there, only full: not a failed attempt
        elif status == wire.HELD:
            if pending.is_call:
                pending.resend_at = _NEVER  # the reply will tell
            else:
                self._settled(msg_id, pending)
        elif status == wire.ROUTED and not pending.is_call:
            self._settled(msg_id, pending)

    def _on_proxy_down(self, idx: int) -> None:
        self._io.call_later(DOWN_GRACE, self._resend_after_down, idx)

    def _resend_after_down(self, idx: int) -> None:
        for msg_id, pending in list(self._inflight.items()):
            if pending.proxy != idx or msg_id not in self._inflight:
                continue
            if not pending.is_call and pending.holder is not None:
                continue  # waiting at a listener, which reports through any proxy
            self._transmit(msg_id, pending)

    def _tick(self) -> None:
        if self.links.closed:
            return
        now = time.monotonic()
        for msg_id, pending in list(self._inflight.items()):
            if now >= pending.resend_at and msg_id in self._inflight:
                self._transmit(msg_id, pending)
        self._io.call_later(TICK, self._tick)
