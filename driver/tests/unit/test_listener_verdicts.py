"""A listener's side of the confirmation: which verdict counts, whom it asks again.

The races these rules settle (a stalled proxy answering after another was
asked, a proxy dropping a frozen listener's connection) depend on timing that
real processes hit only now and then (faultlab with confirm_casts, README);
here the listener's loop-context methods run against a recording stand-in for
its proxy links and I/O loop.
"""

import queue
import time

from oslo_messaging_zmq import wire
from oslo_messaging_zmq.dedup import Deduplicator
from oslo_messaging_zmq.links import LinkSettings
from oslo_messaging_zmq.listener import ZmqListener, _Replay, _Waiting


class _Links:
    def __init__(self, live):
        self.live = live  # proxy index -> answers pings
        self.confirms = [True, True]
        self.closed = False
        self.sent = []  # (index, type, header)

    def is_live(self, idx):
        return self.live[idx]

    def send_any(self, frames, prefer=None):
        order = [prefer, 1 - prefer] if prefer is not None else [0, 1]
        for idx in order:
            if self.live[idx]:
                self.sent.append((idx, *wire.decode(frames)[:2]))
                return idx
        return None


class _Loop:
    def __init__(self):
        self.last_stall = (-1e9, 0.0)
        self.later = []

    def call_later(self, delay, fn, *args):
        self.later.append((fn, args))


def _listener(live=(True, True)):
    listener = ZmqListener.__new__(ZmqListener)
    listener._settings = LinkSettings()
    listener._io = _Loop()
    listener.links = _Links(list(live))
    listener._replay = [_Replay(), _Replay()]
    listener._confirming = {}
    listener._waiting = {}
    listener._dedup = Deduplicator(300, 1000)
    listener._batch = 0
    return listener


def _taken(listener, msg_id="m", via=0):
    waiting = _Waiting(via, "aa", 1, None, time.monotonic())
    waiting.answer = queue.SimpleQueue()
    listener._dedup.seen(msg_id)
    listener._send_taken(msg_id, waiting, via)
    return waiting


def _verdict(listener, idx, verdict, msg_id="m"):
    listener._on_message(idx, wire.CONFIRM, {wire.F_IDS: [msg_id], wire.F_VERDICT: verdict}, None)


def test_the_taken_asks_for_a_verdict_with_its_standstill_and_beat():
    listener = _listener()
    _taken(listener)
    ((idx, mtype, header),) = listener.links.sent
    assert (idx, mtype) == (0, wire.ACK) and header[wire.F_CONFIRM] == 1
    assert header[wire.F_AGE] == 1.0 and header[wire.F_BEAT] == 1.0  # no stall: STALL_MIN
    assert "m" in listener._confirming


def test_only_the_proxy_asked_last_decides():
    listener = _listener()
    waiting = _taken(listener, via=0)
    listener._confirming["m"].via = 1  # asked again through proxy 1 since
    _verdict(listener, 0, wire.REFUSED)  # proxy 0 was stalled and answers late
    assert waiting.answer.empty() and "m" in listener._confirming
    _verdict(listener, 1, wire.CONFIRMED)
    assert waiting.answer.get_nowait() is True and not listener._confirming


def test_a_refusal_forgets_the_message_so_a_copy_sent_again_runs():
    listener = _listener()
    waiting = _taken(listener)
    _verdict(listener, 0, wire.REFUSED)
    assert waiting.answer.get_nowait() is False
    assert not listener._dedup.seen("m")


def test_a_copy_while_the_verdict_is_awaited_is_answered_waiting():
    listener = _listener()
    _taken(listener)
    listener.links.sent.clear()
    listener._answer_copy(1, "m", "aa", True, 2, None)
    ((idx, mtype, header),) = listener.links.sent
    assert idx == 1 and header[wire.F_STATE] == wire.WAITING


def test_a_proxy_down_is_asked_again_elsewhere_unless_this_process_froze():
    listener = _listener(live=(False, True))
    _taken(listener, via=0)  # sent through 1 (0 is down): make it "through 0"
    listener._confirming["m"].via = 0
    listener.links.sent.clear()
    listener._reask(0, time.monotonic())
    ((idx, _mtype, header),) = listener.links.sent
    assert idx == 1 and header[wire.F_AGAIN] == 1

    frozen = _listener(live=(False, True))
    _taken(frozen, via=0)
    frozen._confirming["m"].via = 0
    frozen.links.sent.clear()
    now = time.monotonic()
    frozen._io.last_stall = (now - 0.5, 6.0)  # thawed half a second ago
    frozen._reask(0, now)
    assert frozen.links.sent == [] and frozen._io.later  # waits for proxy 0 to come back
    frozen.links.live[0] = True
    fn, args = frozen._io.later[0]
    fn(*args)
    ((idx, _mtype, header),) = frozen.links.sent
    assert idx == 0 and header[wire.F_AGAIN] == 1 and header[wire.F_AGE] == 6.0
