"""Receiving side: RPC and notification listeners and their incoming messages.

A cast, fanout copy or notification is acknowledged ("taken") when a worker
takes it: oslo.messaging's RPC server calls acknowledge() right before
dispatching, the notification server after dispatching.  Until then it is
*waiting* here, and every ``ack_timeout/3`` the listener tells its sender so
(one batched "waiting" ACK per sender), which keeps the sender from sending it
elsewhere.  A copy that arrives again while one is waiting or taken is
answered from that state, never queued twice.

Lease: a listener that could not report for ``ack_timeout`` (its process was
frozen, or it had no live proxy) may have been given up by its senders, who
then send the message to another listener.  A worker that takes such a stale
message does not run it: the message is *released* (its sender sends it again
and whoever has it runs it once).  ``ack_timeout`` must stay below the proxies'
``peer_timeout`` minus ``heartbeat_interval`` so that no other listener can
have been chosen before the lease ends.

Confirmation: the lease is checked when a worker takes a cast, but its
"taken" can still be stuck in this process (in the I/O loop, or in libzmq's
queue) when the process is frozen, and leave only after the thaw, when its
sender may have given the cast to another listener.  So an RPC worker runs a
cast only once the proxy that relayed its "taken" confirmed it (wire.CONFIRM):
a proxy refuses a late one and tells the sender "released" instead.  Calls
need none (their reply is the acknowledgement), nor notifications (they are
acknowledged after processing).
"""

from __future__ import annotations

import collections
import logging
import queue
import threading
import time
import uuid

from oslo_messaging._drivers import base
from oslo_messaging._drivers import common as rpc_common
from oslo_serialization import jsonutils

from oslo_messaging_zmq import wire
from oslo_messaging_zmq.dedup import Deduplicator
from oslo_messaging_zmq.ioloop import STALL_MIN, IOLoop, make_queue, make_reply_slot
from oslo_messaging_zmq.links import LinkSettings, ProxyLinks, SecurityConfig

LOG = logging.getLogger(__name__)

REPLY_RETRY_INTERVAL = 0.2  # s between attempts to send a reply while no proxy is live
REPLY_RETRIES = 50
REPLY_CACHE_ENTRIES = 2000  # replies kept to answer a re-sent call
REPLY_CACHE_BYTES = 32 * 1024 * 1024
REPLAY_BYTES = 16 * 1024 * 1024  # acks/replies kept per proxy for replay
IDS_PER_ACK = 512  # ids in one batched ACK: "waiting" reports, the "taken" of one turn
BATCH_SENDERS_TOLD = 10000  # senders remembered as told the batch size (then forgotten at once)
# after the process was frozen for longer than the lease, casts read from the
# sockets during this many seconds are released instead of run (see _on_message)
THAW_QUARANTINE = 1.0
# after a proxy went down, wait this long for its verdicts still in the socket
# before asking again about the "taken" ACKs it did not answer (see _reask)
CONFIRM_GRACE = 0.3


class StaleMessage(Exception):
    """Raised by acknowledge() for a message whose lease ran out (see module doc)."""


class _Waiting:
    """A message received and not yet taken by a worker."""

    __slots__ = (
        "idx",
        "sender",
        "attempt",
        "copies",
        "signed_at",
        "expired",
        "taken",
        "answer",
        "sent_at",
        "via",
        "held",
        "ids_ok",
    )

    def __init__(self, idx, sender, attempt, copies, now):
        self.idx = idx
        self.sender = sender
        self.attempt = attempt
        self.copies = copies
        self.signed_at = now  # the last time its sender could hear of it
        self.expired = False  # its lease ran out: it was released, it must not run
        self.taken = False  # a worker runs it; its "taken" is on the way to the I/O loop
        self.answer = None  # queue of the proxy's verdict the worker waits on (confirm)
        self.sent_at = 0.0  # when its "taken" was sent asking for a verdict
        self.via = -1  # the proxy it was sent through
        self.held = False  # from a proxy's hold store: its sender settled it there
        self.ids_ok = False  # its sender reads batched "taken" (wire.F_IDS_OK)


class _Settling:
    """acknowledge()/requeue() tell the listener a worker took the message."""

    _listener = None
    _msg_id = None
    _settled = False
    wait_state = None  # the listener's _Waiting entry of this message

    def _take(self) -> bool:
        """Tell the listener a worker has it; False when the loop released it first."""
        if self._settled or self.wait_state is None:
            return True
        self._settled = True
        return self._listener.take(self._msg_id, self.wait_state)

    def _give_back(self) -> None:
        if not self._settled and self.wait_state is not None:
            self._settled = True
            self._listener.release(self._msg_id, self.wait_state)


class NotificationIncoming(_Settling, base.IncomingMessage):
    def __init__(self, listener, ctxt, message, msg_id):
        super().__init__(ctxt, message)
        self._listener = listener
        self._msg_id = msg_id

    def acknowledge(self) -> None:
        self._take()

    def requeue(self) -> None:
        """Give the notification back: its sender delivers it again."""
        self._give_back()


class RpcIncoming(_Settling, base.RpcIncomingMessage):
    def __init__(self, listener, ctxt, message, msg_id, reply_to, proxy, client_timeout):
        super().__init__(ctxt, message, msg_id)
        self._listener = listener
        self._msg_id = msg_id
        self._reply_to = reply_to
        self._proxy = proxy
        self.client_timeout = client_timeout

    def acknowledge(self) -> None:
        if self.wait_state is not None and not self._settled:
            stale = self._listener.stale_for(self.wait_state)
            if stale is None and not self._take():
                raise StaleMessage(
                    "zmq: message %s not executed here: given back to its sender, which sends "
                    'it again (its lease ran out, or its "taken" reached the proxy late: this '
                    "process stopped or starved for seconds?)" % self.msg_id
                )
            if stale is not None:
                self._give_back()
                raise StaleMessage(
                    "zmq: message %s waited %.1f s here without a live proxy to report it "
                    "in time (process frozen?); released to its sender for delivery "
                    "elsewhere, not executed here"
                    % (self.msg_id, stale or self._listener.stale_age(self.wait_state))
                )
        self._take()

    def requeue(self) -> None:
        """Not supported (require_features(requeue=True) refuses it)."""
        self._take()

    def reply(self, reply=None, failure=None) -> None:
        if self._reply_to is None:
            return
        if failure is not None:
            failure = rpc_common.serialize_remote_exception(failure)
        body = jsonutils.dump_as_bytes({"result": reply, "failure": failure})
        header = {wire.F_ID: self.msg_id, wire.F_TO: self._reply_to}
        self._listener.send_reply(wire.encode(wire.REPLY, header, body), self._proxy, self.msg_id)

    def heartbeat(self) -> None:
        if self._reply_to is None:
            return
        header = {wire.F_ID: self.msg_id, wire.F_TO: self._reply_to, wire.F_HB: 1}
        self._listener.send_reply(wire.encode(wire.REPLY, header), self._proxy)


class _Replay:
    """Acks and replies recently sent through one proxy, bounded in time and bytes."""

    def __init__(self) -> None:
        self.items: collections.deque = collections.deque()
        self.bytes = 0

    def add(self, now: float, frames: list[bytes], window: float, confirm: str = "") -> None:
        """confirm: the id of a "taken" that asked for a verdict (not replayed as is)."""
        size = sum(map(len, frames))
        self.items.append((now, frames, size, confirm))
        self.bytes += size
        items = self.items
        while items and (now - items[0][0] > window or self.bytes > REPLAY_BYTES):
            self.bytes -= items.popleft()[2]

    def drain(self, now: float, window: float) -> list[list[bytes]]:
        """What to send again: acks and replies, not the "taken" ACKs awaiting a verdict."""
        out = [
            frames
            for stamp, frames, _size, confirm in self.items
            if now - stamp <= window and not confirm
        ]
        self.items.clear()
        self.bytes = 0
        return out


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
        batch_size: int = 1,
    ) -> None:
        super().__init__()
        self._io = io
        self._settings = settings
        self._targets = [list(t) for t in targets]
        self._dedup = dedup
        self._notifications = notifications
        # a batching listener acknowledges after the batch is processed: its ACKs
        # tell senders the batch size, which widens their in-flight window
        self._batch = batch_size if notifications and batch_size > 1 else 0
        self._batch_told: set[str] = set()  # senders told the batch size already
        self._incoming = make_queue(io.green)
        self._waiting: dict[str, _Waiting] = {}
        # RPC casts: a worker runs one only once a proxy confirmed its "taken"
        self._confirm = settings.confirm_casts and not notifications
        self._confirming: dict[str, _Waiting] = {}  # "taken" sent, verdict awaited
        # a worker's "taken" and the loop's expiry decide a waiting message's fate
        # in one place (see take)
        self._settle_lock = threading.Lock()
        self._stopped = False
        self._replies: collections.OrderedDict[str, list[bytes]] = collections.OrderedDict()
        self._reply_bytes = 0
        self._replay = [_Replay() for _endpoint in endpoints]
        # "taken" ACKs of this turn, sent at its end: (proxy, sender) -> ids
        self._taken_out: dict[tuple[int, str], list[tuple[str, int | None]]] = {}
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
        io.call_soon(io.call_later, settings.report_interval, self._report_waiting)

    # -- loop context ----------------------------------------------------------
    def _ping(self) -> list[bytes] | None:
        if self._stopped:
            return None
        return wire.encode(wire.REGISTER, {wire.F_TARGETS: self._targets})

    def _on_message(self, idx: int, mtype: bytes, header: dict, body: bytes | None) -> None:
        if mtype == wire.CONFIRM:
            self._on_verdict(idx, header)
            return
        if mtype != wire.DELIVER or self._stopped:
            return
        msg_id = header.get(wire.F_ID)
        sender = header.get(wire.F_FROM)
        if not isinstance(msg_id, str) or body is None or not isinstance(sender, str):
            return
        wants_ack = bool(header.get(wire.F_ACK))
        attempt = header.get(wire.F_TRY)
        copies = header.get(wire.F_COPIES)
        ids_ok = header.get(wire.F_IDS_OK) == 1
        if self._dedup.seen(msg_id):
            self._answer_copy(idx, msg_id, sender, wants_ack, attempt, copies, ids_ok)
            return
        try:
            incoming = self._build(idx, header, msg_id, sender, body)
        except Exception as exc:
            LOG.error("zmq: undecodable message %s dropped (%s)", msg_id, type(exc).__name__)
            if wants_ack:
                self._ack(idx, msg_id, sender, wire.TAKEN, attempt, copies, ids_ok)
            return
        if wants_ack:
            now = time.monotonic()
            if self._just_thawed(now) and not header.get(wire.F_HELD):
                # it may have sat in this frozen process's sockets while its sender
                # gave up on this listener and sent it elsewhere: give it back (not a
                # copy from a proxy's hold: its sender settled it there, it is the one)
                self._dedup.forget(msg_id)
                self._ack(idx, msg_id, sender, wire.RELEASED, attempt, copies)
                return
            incoming.wait_state = _Waiting(idx, sender, attempt, copies, now)
            incoming.wait_state.held = bool(header.get(wire.F_HELD))
            incoming.wait_state.ids_ok = ids_ok
            self._waiting[msg_id] = incoming.wait_state
            if self._batch and sender not in self._batch_told:
                self._tell_batch(idx, msg_id, sender)
        self._incoming.put(incoming)

    def _tell_batch(self, idx: int, msg_id: str, sender: str) -> None:
        """A new sender's first message waits for a batch: say so now, with the batch
        size, not at the next waiting report (the sender's window may be smaller)."""
        if len(self._batch_told) >= BATCH_SENDERS_TOLD:
            self._batch_told.clear()
        self._batch_told.add(sender)
        header = {wire.F_ID: msg_id, wire.F_TO: sender, wire.F_STATE: wire.WAITING}
        header[wire.F_BATCH] = self._batch
        self._send_tracked(wire.encode(wire.ACK, header), idx)

    def _just_thawed(self, now: float) -> bool:
        """True right after this process was frozen longer than its lease."""
        thawed_at, length = self._io.stalled_since(now)
        return length > self._settings.ack_timeout and now - thawed_at < THAW_QUARANTINE

    def _answer_copy(self, idx, msg_id, sender, wants_ack, attempt, copies, ids_ok=False) -> None:
        """Another copy of a message this listener already has."""
        if msg_id in self._confirming:
            # taken here, but the proxy may still refuse it: not "taken" yet
            if wants_ack:
                self._ack(idx, msg_id, sender, wire.WAITING, attempt, copies)
            return
        waiting = self._waiting.get(msg_id)
        if waiting is not None:
            now = time.monotonic()
            if now - waiting.signed_at > self._settings.ack_timeout:
                self._expire(msg_id, waiting)  # a sender may have given it to another
                return
            waiting.attempt, waiting.copies = attempt, copies
            if wants_ack and self.links.is_live(idx):
                waiting.signed_at = now
            if wants_ack:
                self._ack(idx, msg_id, sender, wire.WAITING, attempt, copies)
            return
        if wants_ack:
            self._ack(idx, msg_id, sender, wire.TAKEN, attempt, copies, ids_ok)
        cached = self._replies.get(msg_id)
        if cached is not None:
            self._send_tracked(cached, idx)

    def _ack(self, idx, msg_id, sender, state, attempt=None, copies=None, ids_ok=False) -> None:
        if ids_ok and state == wire.TAKEN and not self._batch and (copies is None or copies <= 1):
            # final for a single-copy message, whatever its try: a sender that reads
            # batched "taken" (wire.F_IDS_OK) needs the id only, so the turn's "taken"
            # for one sender go in one ACK
            out = self._taken_out.get((idx, sender))
            if out is None:
                out = self._taken_out[(idx, sender)] = []
                self._io.at_turn_end(self._send_taken_out)
            out.append((msg_id, attempt))
            return
        header = self._ack_header(msg_id, sender, state, attempt, copies)
        if self._batch:
            header[wire.F_BATCH] = self._batch
        self._send_tracked(wire.encode(wire.ACK, header), idx)

    def _send_taken_out(self) -> None:
        """The "taken" ACKs collected in this turn: one per (proxy, sender), with
        ids when there are several (as a single ACK when there is one)."""
        out, self._taken_out = self._taken_out, {}
        for (idx, sender), taken in out.items():
            if len(taken) == 1:
                msg_id, attempt = taken[0]
                header = self._ack_header(msg_id, sender, wire.TAKEN, attempt, None)
                self._send_tracked(wire.encode(wire.ACK, header), idx)
                continue
            for start in range(0, len(taken), IDS_PER_ACK):
                ids = [msg_id for msg_id, _attempt in taken[start : start + IDS_PER_ACK]]
                header = {wire.F_ID: ids[0], wire.F_IDS: ids, wire.F_TO: sender}
                header[wire.F_STATE] = wire.TAKEN
                self._send_tracked(wire.encode(wire.ACK, header), idx)

    @staticmethod
    def _ack_header(msg_id, sender, state, attempt, copies) -> dict:
        header = {wire.F_ID: msg_id, wire.F_TO: sender, wire.F_STATE: state}
        if attempt is not None:
            header[wire.F_TRY] = attempt
        if copies is not None:
            header[wire.F_COPIES] = copies
        return header

    def _report_waiting(self) -> None:
        """Tell each sender which of its messages still wait for a worker here."""
        if self.links.closed:
            return
        settings = self._settings
        now = time.monotonic()
        due: dict[tuple[int, str], list[str]] = {}
        for msg_id, waiting in list(self._waiting.items()):
            age = now - waiting.signed_at
            if age > settings.ack_timeout:
                # this loop did not run for its lease (process frozen): too late to
                # report, its sender may have given it to another listener
                self._expire(msg_id, waiting)
            elif age >= settings.report_interval:
                due.setdefault((waiting.idx, waiting.sender), []).append(msg_id)
        if self._confirming:
            self._abandon_unanswered(now)
        for (idx, sender), ids in due.items():
            for start in range(0, len(ids), IDS_PER_ACK):
                chunk = ids[start : start + IDS_PER_ACK]
                header = {wire.F_ID: chunk[0], wire.F_IDS: chunk, wire.F_TO: sender}
                header[wire.F_STATE] = wire.WAITING
                if self._batch:
                    header[wire.F_BATCH] = self._batch
                via = self._send_tracked(wire.encode(wire.ACK, header), idx)
                if via is not None:
                    for msg_id in chunk:
                        self._waiting[msg_id].signed_at = now
        self._io.call_later(settings.report_interval, self._report_waiting)

    def stale_for(self, waiting: _Waiting) -> float | None:
        """How long a message has been without a lease, or None if it may run (any thread).

        Stricter than the loop's own expiry (0.8 x the lease) so that a message
        judged fresh here is settled by the loop before the loop could expire it.
        """
        age = time.monotonic() - waiting.signed_at
        if waiting.expired or age > 0.8 * self._settings.ack_timeout:
            return age
        return None

    def stale_age(self, waiting: _Waiting) -> float:
        return time.monotonic() - waiting.signed_at

    def take(self, msg_id: str, waiting: _Waiting) -> bool:
        """A worker takes the message (any thread); False: do not run it (the loop
        released it already, or, for an RPC cast, the proxy refused its "taken").

        The worker found the lease fresh, but the loop may run late (a starved
        or frozen process) and find it expired before this "taken" reaches it:
        the mark under the lock tells it a worker runs the message, so it is
        not released (its sender would send it again, and it would run twice).
        """
        with self._settle_lock:
            if waiting.expired:
                return False
            waiting.taken = True
        if not self._confirm or waiting.held:
            # a held copy is the only one: its sender settled it on "held"
            if self._io.green and waiting.ids_ok:
                # Green workers of one burst take one after another before the loop
                # runs again: queued, their "taken" leave in one ACK at the end of
                # that turn (run_now would send one ACK per worker at once).
                self._io.call_soon(self._settle, msg_id, waiting, wire.TAKEN)
            else:
                self._io.run_now(self._settle, msg_id, waiting, wire.TAKEN)
            return True
        waiting.answer = answer = make_reply_slot(self._io.green)
        self._io.run_now(self._settle, msg_id, waiting, wire.TAKEN)
        # the loop answers within _abandon_unanswered's limit; this bound only
        # matters if the loop itself is gone
        settings = self._settings
        try:
            return answer.get(timeout=2 * (settings.proxy_timeout + settings.replay_window))
        except queue.Empty:
            LOG.error("zmq: no verdict on message %s from the I/O loop; running it", msg_id)
            return True

    def release(self, msg_id: str, waiting: _Waiting) -> None:
        """The message is given back unexecuted (any thread)."""
        self._io.call_soon(self._settle, msg_id, waiting, wire.RELEASED)

    def _settle(self, msg_id: str, waiting: _Waiting, state: str) -> None:
        if self._waiting.get(msg_id) is not waiting:
            return  # expired (released) already
        del self._waiting[msg_id]
        if state == wire.RELEASED:
            self._dedup.forget(msg_id)
        elif waiting.answer is not None:
            self._send_taken(msg_id, waiting, waiting.idx)
            return
        self._ack(
            waiting.idx,
            msg_id,
            waiting.sender,
            state,
            waiting.attempt,
            waiting.copies,
            waiting.ids_ok,
        )

    # -- confirmation of "taken" (loop context) ---------------------------------
    def _send_taken(self, msg_id: str, waiting: _Waiting, prefer: int, again=False) -> None:
        """Send a worker's "taken" asking the proxy for a verdict."""
        now = time.monotonic()
        header = self._ack_header(
            msg_id, waiting.sender, wire.TAKEN, waiting.attempt, waiting.copies
        )
        header[wire.F_CONFIRM] = 1
        header[wire.F_AGE] = self._standstill(waiting)
        header[wire.F_BEAT] = self._settings.heartbeat_interval
        if again:
            header[wire.F_AGAIN] = 1
        frames = wire.encode(wire.ACK, header)
        idx = self.links.send_any(frames, prefer)
        if idx is None:
            # its sender cannot hear of it: give it back (sent again, run once)
            LOG.warning("zmq: no live proxy to report message %s taken: not run here", msg_id)
            self._verdict(msg_id, waiting, False, tell_sender=True)
            return
        if not self.links.confirms[idx]:
            waiting.answer.put(True)  # a proxy without confirmations: as before
            self._replay[idx].add(now, frames, self._settings.replay_window)
            return
        self._replay[idx].add(now, frames, self._settings.replay_window, msg_id)
        waiting.sent_at, waiting.via = now, idx
        self._confirming[msg_id] = waiting
        LOG.debug("zmq: asked proxy %d whether %s may run (again: %s)", idx, msg_id, again)

    def _standstill(self, waiting: _Waiting) -> float:
        """How long this process's I/O loop may have stood still (sending nothing to
        any proxy) while it had the message (see proxy._late): the last stall if it
        ended after, or just before, the message was last reported (a freeze between
        a worker taking it and this "taken" leaving the loop is one), else a lateness
        below what counts as a stall."""
        thawed_at, length = self._io.last_stall
        if thawed_at > waiting.signed_at - THAW_QUARANTINE:
            return round(max(length, STALL_MIN), 3)
        return STALL_MIN

    def _on_verdict(self, idx: int, header: dict) -> None:
        ids = header.get(wire.F_IDS)
        if not isinstance(ids, list):
            return
        confirmed = header.get(wire.F_VERDICT) == wire.CONFIRMED
        confirming = self._confirming
        for msg_id in ids:
            waiting = confirming.get(msg_id) if isinstance(msg_id, str) else None
            # only the proxy asked last decides: one that was asked before and
            # answers late (it was stalled) is not the one its sender heard from
            if waiting is not None and waiting.via == idx:
                del confirming[msg_id]
                LOG.debug("zmq: proxy %d %s %s", idx, header.get(wire.F_VERDICT), msg_id)
                self._verdict(msg_id, waiting, confirmed)

    def _verdict(self, msg_id: str, waiting: _Waiting, run: bool, tell_sender=False) -> None:
        if not run:
            self._dedup.forget(msg_id)  # a copy sent again is new here
            if tell_sender:
                self._ack(waiting.idx, msg_id, waiting.sender, wire.RELEASED, waiting.attempt)
        waiting.answer.put(run)

    def _reask(self, down: int, since: float) -> None:
        """Ask again about the "taken" ACKs a proxy that went down did not answer.

        The proxy may have decided and relayed the verdict to the sender before
        it went away.  When this process itself was frozen, the proxy most likely
        only dropped its connection (silent too long): ask it again once it is
        back (it remembers what it confirmed), another proxy only if it stays
        away.  Otherwise the proxy is hung, dead or cut off: ask another now."""
        unanswered = [(m, w) for m, w in self._confirming.items() if w.via == down]
        if not unanswered or self.links.closed:
            return
        now = time.monotonic()
        thawed_at, _length = self._io.last_stall
        froze = since - thawed_at < self._settings.proxy_timeout
        if self.links.is_live(down):
            target = down
        elif froze and now - since < self._settings.proxy_timeout:
            self._io.call_later(CONFIRM_GRACE, self._reask, down, since)
            return
        else:
            target = (down + 1) % len(self._replay)
        for msg_id, waiting in unanswered:
            del self._confirming[msg_id]
            self._send_taken(msg_id, waiting, target, again=True)

    def _abandon_unanswered(self, now: float) -> None:
        """Verdicts that never came: run those.

        A proxy keeps a verdict until it can be sent, so none came means the
        proxy went away after it relayed the "taken" (the sender has it: not
        running the message would lose it) or before (the sender sends it
        again and this listener answers the copy "taken").  Only a refusal
        lost with its proxy makes this run a message that runs elsewhere too."""
        limit = self._settings.proxy_timeout + self._settings.replay_window
        for msg_id, waiting in list(self._confirming.items()):
            if now - waiting.sent_at > limit:
                del self._confirming[msg_id]
                LOG.warning(
                    "zmq: no proxy answered for %.1f s whether message %s may run; running it",
                    now - waiting.sent_at,
                    msg_id,
                )
                self._verdict(msg_id, waiting, True)

    def _expire(self, msg_id: str, waiting: _Waiting) -> None:
        with self._settle_lock:
            if waiting.taken:
                return  # a worker runs it: the queued "taken" settles it
            waiting.expired = True
        self._settle(msg_id, waiting, wire.RELEASED)

    def _send_tracked(self, frames: list[bytes], prefer: int) -> int | None:
        idx = self.links.send_any(frames, prefer)
        if idx is not None:
            self._replay[idx].add(time.monotonic(), frames, self._settings.replay_window)
        return idx

    def _on_proxy_down(self, idx: int) -> None:
        """A proxy disconnected or stopped answering: what went through it in the
        last moments may be stuck or lost there, so send it again elsewhere."""
        if any(waiting.via == idx for waiting in self._confirming.values()):
            self._io.call_later(CONFIRM_GRACE, self._reask, idx, time.monotonic())
        if len(self._replay) < 2:
            return
        frames_list = self._replay[idx].drain(time.monotonic(), self._settings.replay_window)
        for frames in frames_list:
            self._send_tracked(frames, (idx + 1) % len(self._replay))

    def _build(self, idx, header, msg_id, sender, body):
        payload = jsonutils.loads(body)
        ctxt = payload.get(wire.B_CONTEXT) or {}
        message = payload.get(wire.B_MESSAGE)
        if self._notifications:
            return NotificationIncoming(self, ctxt, rpc_common.deserialize_msg(message), msg_id)
        reply_to = sender if header.get(wire.F_CALL) else None
        monitor = payload.get(wire.B_MONITOR_TIMEOUT)
        return RpcIncoming(self, ctxt, message, msg_id, reply_to, idx, monitor)

    def send_reply(self, frames: list[bytes], proxy: int, msg_id: str | None = None) -> None:
        self._io.run_now(self._send_reply, frames, proxy, 0, msg_id)

    def _send_reply(self, frames: list[bytes], proxy: int, attempt: int, msg_id=None) -> None:
        if msg_id is not None and attempt == 0:
            self._cache_reply(msg_id, frames)
        if self._send_tracked(frames, proxy) is not None:
            return
        if attempt >= REPLY_RETRIES:
            LOG.error("zmq: reply could not be sent, no live proxy")
            return
        self._io.call_later(REPLY_RETRY_INTERVAL, self._send_reply, frames, proxy, attempt + 1)

    def _cache_reply(self, msg_id: str, frames: list[bytes]) -> None:
        size = sum(map(len, frames))
        if size > REPLY_CACHE_BYTES // 4:
            return
        replies = self._replies
        replies[msg_id] = frames
        self._reply_bytes += size
        while replies and (
            len(replies) > REPLY_CACHE_ENTRIES or self._reply_bytes > REPLY_CACHE_BYTES
        ):
            _old, old_frames = replies.popitem(last=False)
            self._reply_bytes -= sum(map(len, old_frames))

    def _release_unpolled(self, items: list) -> None:
        for incoming in items:
            if incoming.wait_state is not None:
                self._settle(incoming._msg_id, incoming.wait_state, wire.RELEASED)

    def _drain_incoming(self) -> list:
        items = []
        while True:
            try:
                item = self._incoming.get_nowait()
            except queue.Empty:
                return items
            if item is not None:
                items.append(item)

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
                if self._notifications and item.wait_state is not None:
                    stale = self.stale_for(item.wait_state)
                    if stale is not None:
                        LOG.warning(
                            "zmq: notification %s waited %.1f s without a live proxy to report "
                            "it; released to its sender, not processed here",
                            item._msg_id,
                            stale,
                        )
                        item._give_back()
                        continue
                return item
            if deadline is not None and time.monotonic() >= deadline:
                return None

    def stop(self) -> None:
        """Stop receiving; what was received is still handed out by poll()."""
        self._stopped = True

        def _unregister():
            frames = wire.encode(wire.UNREGISTER, {})
            for idx in range(len(self.links.endpoints)):
                self.links.send(idx, frames)

        self._io.call_soon(_unregister)
        self._incoming.put(None)

    def cleanup(self) -> None:
        """Close; casts nobody polled go back to their senders, who send them again."""
        self._stopped = True
        self._io.call_soon(self._release_unpolled, self._drain_incoming())
        self._io.call_soon(self._abandon_all)
        self.links.close()

    def _abandon_all(self) -> None:
        """Closing: workers still waiting for a verdict run their casts (see
        _abandon_unanswered)."""
        confirming, self._confirming = self._confirming, {}
        for msg_id, waiting in confirming.items():
            self._verdict(msg_id, waiting, True)
