"""A listener's side of the confirmation: which verdict counts, whom it asks again.

The races these rules settle (a stalled proxy answering after another was
asked, a proxy dropping a frozen listener's connection) depend on timing that
real processes hit only now and then (faultlab with confirm_casts, README);
here the listener's loop-context methods run against a recording stand-in for
its proxy links and I/O loop.
"""

import queue
import time

from oslo_messaging_zmq import listener as listener_mod
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


class _TurnLoop(_Loop):
    """The stand-in loop with end-of-turn steps, run when the test ends the turn."""

    def __init__(self):
        super().__init__()
        self.steps = {}

    def at_turn_end(self, fn):
        self.steps[fn] = None

    def end_turn(self):
        steps, self.steps = self.steps, {}
        for fn in steps:
            fn()


def _settle_taken(listener, msg_id, sender="aa", via=0, attempt=1, copies=None, ids_ok=True):
    waiting = _Waiting(via, sender, attempt, copies, time.monotonic())
    waiting.ids_ok = ids_ok
    listener._waiting[msg_id] = waiting
    listener._settle(msg_id, waiting, wire.TAKEN)


def _batching_listener():
    listener = _listener()
    listener._io = _TurnLoop()
    listener._taken_out = {}
    return listener


def test_the_taken_of_one_turn_go_to_each_sender_in_one_ack():
    listener = _batching_listener()
    _settle_taken(listener, "m1")
    _settle_taken(listener, "m2", attempt=2)
    _settle_taken(listener, "m3", sender="bb")
    _settle_taken(listener, "m4", via=1)
    assert listener.links.sent == []  # nothing before the turn ends
    listener._io.end_turn()
    sent = {(idx, header[wire.F_TO]): header for idx, mtype, header in listener.links.sent}
    assert len(listener.links.sent) == 3
    batched = sent[(0, "aa")]
    assert batched[wire.F_STATE] == wire.TAKEN and batched[wire.F_IDS] == ["m1", "m2"]
    assert batched[wire.F_ID] == "m1" and wire.F_TRY not in batched
    single = sent[(0, "bb")]  # alone: the ACK it always was, with its try
    assert single[wire.F_ID] == "m3" and wire.F_IDS not in single and single[wire.F_TRY] == 1
    assert sent[(1, "aa")][wire.F_ID] == "m4"
    assert [len(replay.items) for replay in listener._replay] == [2, 1]  # kept for a replay


def test_a_taken_for_a_sender_that_reads_no_ids_is_sent_at_once_alone():
    listener = _batching_listener()
    _settle_taken(listener, "m1", ids_ok=False)
    _settle_taken(listener, "m2", ids_ok=False)
    ids = [header[wire.F_ID] for _idx, _mtype, header in listener.links.sent]
    assert ids == ["m1", "m2"] and listener._io.steps == {}
    assert all(wire.F_IDS not in header for _idx, _mtype, header in listener.links.sent)


def test_a_multi_copy_taken_is_sent_at_once_with_its_try_and_copies():
    listener = _batching_listener()
    _settle_taken(listener, "m1", attempt=3, copies=2)
    ((_idx, _mtype, header),) = listener.links.sent
    assert header[wire.F_TRY] == 3 and header[wire.F_COPIES] == 2
    assert wire.F_IDS not in header and listener._io.steps == {}


def test_a_long_turn_is_split_into_acks_of_at_most_ids_per_ack(monkeypatch):
    monkeypatch.setattr(listener_mod, "IDS_PER_ACK", 3)
    listener = _batching_listener()
    for n in range(7):
        _settle_taken(listener, f"m{n}")
    listener._io.end_turn()
    ids = [header.get(wire.F_IDS) for _idx, _mtype, header in listener.links.sent]
    assert ids == [["m0", "m1", "m2"], ["m3", "m4", "m5"], ["m6"]]
