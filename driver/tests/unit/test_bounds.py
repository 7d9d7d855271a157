"""Memory the driver keeps for re-sends and replays has limits."""

import collections
import threading

from oslo_messaging_zmq import client, listener, wire
from oslo_messaging_zmq.dedup import Deduplicator
from oslo_messaging_zmq.ioloop import IOLoop
from oslo_messaging_zmq.links import LinkSettings, SecurityConfig


def test_replay_buffer_is_bounded_in_time_and_bytes(monkeypatch):
    replay = listener._Replay()
    for i in range(10):
        replay.add(float(i), [b"x" * 10], window=3.0)
    assert len(replay.items) == 4  # stamps 6..9 are within 3 s of 9
    monkeypatch.setattr(listener, "REPLAY_BYTES", 100)
    big = listener._Replay()
    for _unused in range(50):
        big.add(0.0, [b"y" * 30], window=60.0)
    assert big.bytes <= 100 and len(big.items) == 3
    assert big.drain(1.0, window=60.0) == [[b"y" * 30]] * 3
    assert big.bytes == 0 and not big.items


def _listener():
    io = IOLoop()
    zl = listener.ZmqListener(
        io,
        ["tcp://127.0.0.1:9"],
        SecurityConfig("plain"),
        LinkSettings(),
        [(wire.RPC, "ex", "t", "s")],
        Deduplicator(60, 1000),
        notifications=False,
    )
    return io, zl


def test_reply_cache_bounded_by_count_and_bytes(monkeypatch):
    monkeypatch.setattr(listener, "REPLY_CACHE_ENTRIES", 5)
    monkeypatch.setattr(listener, "REPLY_CACHE_BYTES", 400)
    io, zl = _listener()
    try:
        for i in range(20):
            zl._cache_reply("m%d" % i, [b"r" * 10])
        assert list(zl._replies) == ["m15", "m16", "m17", "m18", "m19"]
        for i in range(20):
            zl._cache_reply("b%d" % i, [b"r" * 90])
        assert zl._reply_bytes <= 400 and len(zl._replies) == 4
        zl._cache_reply("huge", [b"r" * 200])  # more than a quarter of the cache: not kept
        assert "huge" not in zl._replies
        assert zl._reply_bytes == sum(len(f[0]) for f in zl._replies.values())
    finally:
        zl.cleanup()
        io.stop()


def test_sender_sequence_counters_are_bounded(monkeypatch):
    monkeypatch.setattr(client, "SEQ_TARGETS", 3)
    sender = client.Sender.__new__(client.Sender)
    sender._seqs = collections.OrderedDict()
    sender._seq_lock = threading.Lock()

    def header(topic):
        return {wire.F_KIND: wire.RPC, wire.F_EXCHANGE: "ex", wire.F_TOPIC: topic}

    first = sender._next_seq(header("a"))
    assert sender._next_seq(header("a")) == first + 1  # consecutive per target
    for topic in "bcd":
        sender._next_seq(header(topic))
    assert len(sender._seqs) == 3 and ("r", "ex", "a", None) not in sender._seqs


def test_dedup_forget_makes_an_id_new_again():
    dedup = Deduplicator(60, 100)
    assert not dedup.seen("x", now=0.0)
    assert dedup.seen("x", now=1.0)
    dedup.forget("x")
    assert not dedup.seen("x", now=2.0)
