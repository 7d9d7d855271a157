"""The proxy's verdicts on "taken" ACKs (wire.CONFIRM) and what it remembers of them.

The situations here (a listener silent for seconds, a proxy that was itself
stalled, a confirmation lost with a dropped connection) are reproduced with
real processes by tests/functional/test_server_faults.py and frozen_window.py;
here each rule is checked alone, with the proxy's sends captured.
"""

import time

import pytest
from test_proxy_unit import _register, _send, make_proxy

from oslo_messaging_zmq import proxy, wire
from oslo_messaging_zmq.routing import ConfirmMemory, ResendBook

SENDER = b"client"
LISTENER = b"srv"
OTHER = b"other"


@pytest.fixture
def prx():
    instance = make_proxy()
    _register(instance, LISTENER, (wire.RPC, "ex", "t", "srv"))
    yield instance
    instance.close()


def _taken(prx, msg_id="m", age=1.0, **extra):
    header = {wire.F_ID: msg_id, wire.F_TO: SENDER.hex(), wire.F_STATE: wire.TAKEN}
    header.update({wire.F_CONFIRM: 1, wire.F_AGE: age, wire.F_BEAT: 1.0, wire.F_TRY: 1}, **extra)
    prx.handle([LISTENER, *wire.encode(wire.ACK, header)])
    prx.flush_verdicts()


def _verdicts(prx):
    return [(h[wire.F_VERDICT], h[wire.F_IDS]) for h in prx.to(LISTENER, wire.CONFIRM)]


def _states(prx):
    return [h[wire.F_STATE] for h in prx.to(SENDER, wire.ACK)]


def test_pong_says_the_proxy_confirms(prx):
    (pong,) = prx.to(LISTENER, wire.PONG)
    assert pong[wire.F_CONFIRM] == 1


def test_a_timely_taken_is_relayed_and_confirmed_in_one_batch(prx):
    for msg_id in ("a", "b"):
        header = {wire.F_ID: msg_id, wire.F_TO: SENDER.hex(), wire.F_STATE: wire.TAKEN}
        header.update({wire.F_CONFIRM: 1, wire.F_AGE: 1.0, wire.F_BEAT: 1.0})
        prx.handle([LISTENER, *wire.encode(wire.ACK, header)])
    assert _states(prx) == [wire.TAKEN, wire.TAKEN]
    assert _verdicts(prx) == []  # answered once per burst
    prx.flush_verdicts()
    assert _verdicts(prx) == [(wire.CONFIRMED, ["a", "b"])]
    assert prx.counters.total["confirmed"] == 2


def test_a_taken_without_confirm_is_relayed_and_not_answered(prx):
    header = {wire.F_ID: "m", wire.F_TO: SENDER.hex(), wire.F_STATE: wire.TAKEN}
    prx.handle([LISTENER, *wire.encode(wire.ACK, header)])
    prx.flush_verdicts()
    assert _states(prx) == [wire.TAKEN] and _verdicts(prx) == []


def test_silence_here_or_the_listener_standstill_near_peer_timeout_is_late(prx):
    # peer_timeout 5 s: late when the longer of the silence here and the listener's
    # standstill (age), plus its heartbeat interval (beat, 1 s), passes 4.5 s
    prx.table.peers[LISTENER].last_seen = time.monotonic() - 3.0
    _taken(prx, "ok", age=3.0)
    prx.table.peers[LISTENER].last_seen = time.monotonic() - 3.7
    _taken(prx, "silent", age=1.0)
    _taken(prx, "stood-still", age=3.7)
    assert _states(prx) == [wire.TAKEN, wire.RELEASED, wire.RELEASED]
    assert _verdicts(prx) == [
        (wire.CONFIRMED, ["ok"]),
        (wire.REFUSED, ["silent"]),
        (wire.REFUSED, ["stood-still"]),
    ]
    assert prx.counters.total["refused_late"] == 2


def test_a_taken_from_a_forgotten_listener_is_late(prx):
    prx.table.unregister(LISTENER)
    _taken(prx)
    assert _states(prx) == [wire.RELEASED] and _verdicts(prx) == [(wire.REFUSED, ["m"])]


def test_what_waited_in_a_stalled_proxy_is_refused_until_read(prx):
    prx._last_clock = time.monotonic() - 3.0  # the proxy did not run for 2.75 s
    prx._clock()
    _taken(prx, "stale")
    assert _verdicts(prx) == [(wire.REFUSED, ["stale"])]
    # backlog read and the refusal time over: judged as usual again
    prx._thawed = (False, time.monotonic() - 0.1)
    _taken(prx, "fresh")
    assert _verdicts(prx)[-1] == (wire.CONFIRMED, ["fresh"])


def test_a_verdict_waits_while_the_listener_queue_is_full(prx):
    prx.result[LISTENER] = proxy._BUSY
    _taken(prx)
    assert prx._verdicts_due and _verdicts(prx) == []
    del prx.result[LISTENER]
    prx.flush_verdicts()
    assert _verdicts(prx) == [(wire.CONFIRMED, ["m"])] and not prx._verdicts_due


def test_asked_again_after_being_forgotten_gets_the_same_confirmation(prx):
    _taken(prx, "m")  # confirmed; the listener freezes before reading it
    now = time.monotonic()
    prx.table.peers[LISTENER].last_seen = now - 10.0
    prx._last_clock = now  # the proxy itself ran all along
    prx.maintenance()  # forgets the listener (silent 10 s > peer_timeout)
    assert LISTENER not in prx.table.peers
    _register(prx, LISTENER, (wire.RPC, "ex", "t", "srv"))  # back after the thaw
    prx.sent.clear()
    _taken(prx, "m", age=12.0, **{wire.F_AGAIN: 1})
    assert _verdicts(prx) == [(wire.CONFIRMED, ["m"])]
    assert _states(prx) == []  # its sender was told "taken" the first time
    assert prx.counters.total["confirmed_again"] == 1
    _taken(prx, "other", age=12.0, **{wire.F_AGAIN: 1})  # never confirmed: judged, late
    assert _verdicts(prx)[-1] == (wire.REFUSED, ["other"])


def test_a_taken_is_refused_once_the_cast_sent_again_went_to_another_listener(prx):
    # its proxy went away before the "taken" reached the sender: the sender sent the
    # cast again through this proxy, which gave it to another listener; the first
    # listener then asks here
    _register(prx, OTHER, (wire.RPC, "ex", "t", "other"))
    _send(prx, SENDER, server="other", **{wire.F_TRY: 2})
    assert [h[wire.F_ID] for h in prx.to(OTHER, wire.DELIVER)] == ["m"]
    _taken(prx, "m", **{wire.F_AGAIN: 1})
    assert _verdicts(prx) == [(wire.REFUSED, ["m"])]
    assert prx.counters.total["refused_resent"] == 1
    # sent again to the listener that asks (it holds the earlier copy): judged as usual
    _send(prx, SENDER, server="srv", **{wire.F_ID: "n", wire.F_TRY: 2})
    _taken(prx, "n", **{wire.F_AGAIN: 1})
    assert _verdicts(prx)[-1] == (wire.CONFIRMED, ["n"])


def test_a_cast_sent_again_after_this_proxy_confirmed_it_is_answered_taken(prx):
    _register(prx, OTHER, (wire.RPC, "ex", "t", ""))
    _taken(prx, "m", **{wire.F_AGAIN: 1})  # the listener asked here first: confirmed
    prx.sent.clear()
    _send(prx, SENDER, **{wire.F_TRY: 2})  # the sender's copy, sent before it heard
    assert prx.to(OTHER, wire.DELIVER) == [] and prx.to(LISTENER, wire.DELIVER) == []
    (ack,) = prx.to(SENDER, wire.ACK)
    assert ack[wire.F_STATE] == wire.TAKEN and ack[wire.F_BY] == LISTENER.hex()
    assert prx.counters.total["resend_taken"] == 1
    _send(prx, SENDER, **{wire.F_ID: "fresh", wire.F_TRY: 2})  # never confirmed: routed
    routed = prx.to(OTHER, wire.DELIVER) + prx.to(LISTENER, wire.DELIVER)
    assert [h[wire.F_ID] for h in routed] == ["fresh"]


def test_memory_keeps_a_lost_listener_last_confirmations():
    memory = ConfirmMemory(recent=7.0, kept=300.0, max_kept=3)
    memory.add(b"a", "old", 100.0)
    memory.add(b"a", "m1", 110.0)  # "old" falls out of the recent window
    memory.add(b"a", "m2", 111.0)
    assert not memory.confirmed(b"a", "old") and memory.confirmed(b"a", "m2")
    memory.lost(b"a", 130.0)  # forgotten 19 s after its last confirmation
    assert memory.confirmed(b"a", "m1") and memory.confirmed(b"a", "m2")
    memory.add(b"b", "n1", 120.0)
    memory.add(b"b", "n2", 121.0)
    memory.lost(b"b", 131.0)  # over max_kept: the listener lost first goes
    assert not memory.confirmed(b"a", "m1") and memory.confirmed(b"b", "n1")
    memory.expire(131.0 + 300.0)
    assert not memory.confirmed(b"b", "n1") and len(memory) == 0


def test_memory_and_resend_book_forget_after_their_time():
    memory = ConfirmMemory(recent=7.0, kept=300.0, max_kept=10)
    memory.add(b"a", "m", 100.0)
    assert memory.confirmed_to("m", 106.0) == b"a" and memory.confirmed_to("m", 108.0) is None
    memory.expire(108.0)
    assert memory.confirmed_to("m", 100.0) is None
    book = ResendBook(keep=60.0, max_ids=2)
    book.routed("x", b"a", 100.0)
    book.routed("y", b"b", 130.0)
    book.routed("x", b"c", 140.0)  # sent again once more: the last listener counts
    assert book.routed_to("x", 150.0) == b"c" and book.routed_to("y", 191.0) is None
    book.routed("z", b"d", 150.0)  # over max_ids: the oldest goes
    assert book.routed_to("y", 150.0) is None and len(book) == 2
    book.expire(211.0)
    assert len(book) == 0
