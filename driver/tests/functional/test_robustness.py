"""~10^5 random and malformed multipart messages at a proxy from an authenticated peer
(plus raw TCP garbage): the proxy must not crash, its memory must stay bounded and
legitimate traffic must keep flowing."""

from __future__ import annotations

import os
import random
import socket
import threading
import time
import uuid

import msgpack
import oslo_messaging
import zmq

from oslo_messaging_zmq import security, wire

MESSAGES = 100_000
TIME_BUDGET = 60.0  # seconds; the flood stops early if it takes longer
RSS_GROWTH_LIMIT = 150 * 1024 * 1024


def _framed(mtype: bytes, header: bytes, body: bytes = b"", hlen: int | None = None) -> bytes:
    """One message of the wire format, its parts as given (HLEN may lie)."""
    size = len(header) if hlen is None else hlen
    return wire.MAGIC + mtype + size.to_bytes(2, "big") + header + body


def _garbage(rng: random.Random) -> list[bytes]:
    kind = rng.randrange(11)
    rb = lambda n: os.urandom(n)  # noqa: E731
    types = [wire.HELLO, wire.REGISTER, wire.UNREGISTER, wire.SEND, wire.ACK, wire.REPLY]
    if kind == 0:  # random frames
        return [rb(rng.randrange(0, 64)) for _ in range(rng.randrange(1, 6))]
    if kind == 1:  # right magic, random type and header
        return [wire.MAGIC + rb(rng.randrange(0, 40))]
    if kind == 2:  # right magic and type, undecodable header
        return [_framed(rng.choice(types), rb(rng.randrange(1, 80)), rb(8))]
    if kind == 3:  # header of the wrong msgpack type
        value = rng.choice([[1, 2], "x", 3, None, b"bin", {"id": [1]}])
        return [_framed(rng.choice(types), msgpack.packb(value))]
    if kind == 4:  # SEND with missing/wrong fields
        header = {"id": rng.choice([None, 1, "x" * 600, "ok"]), "k": rng.choice(["r", "z", 5])}
        return wire.encode(wire.SEND, header, rb(16))
    if kind == 5:  # REGISTER with broken targets
        targets = rng.choice([[["r"]], "nope", [[1, 2, 3, 4]], [["q", "e", "t", ""]] * 3])
        return wire.encode(wire.REGISTER, {"targets": targets})
    if kind == 6:  # REPLY/ACK to nonsense destinations
        to = rng.choice(["zz", "", "00" * 200, uuid.uuid4().hex])
        return wire.encode(rng.choice([wire.REPLY, wire.ACK]), {"id": "x", "to": to}, rb(8))
    if kind == 7:  # well-formed SEND to random topics (held, bounded by the hold store)
        header = {"id": uuid.uuid4().hex, "k": "r", "ex": "fuzz", "t": uuid.uuid4().hex[:8]}
        return wire.encode(wire.SEND, header, rb(32))
    if kind == 8:  # extra frames / deeply nested header
        nested: list = []
        for _ in range(200):
            nested = [nested]
        return [_framed(wire.SEND, msgpack.packb({"id": nested})), b"", b""]
    if kind == 9:  # a header length past the end of the frame
        header = msgpack.packb({})
        return [_framed(rng.choice(types), header, hlen=rng.randrange(len(header) + 1, 65536))]
    if kind == 10:  # protocol version 2: [MAGIC, TYPE, HEADER, BODY]
        return [b"OMZ\x02", rng.choice(types), msgpack.packb({}), rb(8)]
    return [_framed(wire.HELLO, msgpack.packb({}), rb(rng.randrange(0, 5000)))]


def test_flood_of_malformed_frames(keys, tmp_path, transports):
    import harness

    proxy = harness.ProxyProcess(keys, str(tmp_path), hold_max_messages=5000).start()
    try:
        url = harness.transport_url([proxy], keys)
        topic = "legit-" + uuid.uuid4().hex

        class Endpoint:
            def echo(self, ctxt, value):
                return value

        server = oslo_messaging.get_rpc_server(
            transports(url),
            oslo_messaging.Target(topic=topic, server="s"),
            [Endpoint()],
            executor="threading",
        )
        server.start()
        client = oslo_messaging.get_rpc_client(
            transports(url), oslo_messaging.Target(topic=topic), timeout=10
        )
        assert client.call({}, "echo", value="warmup") == "warmup"
        rss_before = proxy.metrics()["rss_bytes"]

        legit = {"ok": 0, "errors": []}
        stop = threading.Event()

        def _legit_traffic():
            i = 0
            while not stop.is_set():
                try:
                    if client.call({}, "echo", value=i) == i:
                        legit["ok"] += 1
                except Exception as exc:
                    legit["errors"].append(repr(exc))
                i += 1
                time.sleep(0.01)

        worker = threading.Thread(target=_legit_traffic, daemon=True)
        worker.start()

        # raw TCP garbage: not even ZMTP
        for _ in range(200):
            with socket.create_connection(("127.0.0.1", proxy.port), timeout=2) as raw:
                raw.sendall(os.urandom(random.randrange(1, 300)))

        ctx = zmq.Context()
        fuzzer = ctx.socket(zmq.DEALER)
        client_keys = security.read_key_file(keys.client_secret)
        server_keys = security.read_key_file(keys.server_public)
        security.configure_client(fuzzer, client_keys, server_keys["public"])
        fuzzer.setsockopt(zmq.LINGER, 0)
        fuzzer.setsockopt(zmq.SNDHWM, 1000)
        fuzzer.connect("tcp://" + proxy.address)
        rng = random.Random(20261125)
        sent = 0
        deadline = time.monotonic() + TIME_BUDGET
        while sent < MESSAGES and time.monotonic() < deadline:
            fuzzer.send_multipart(_garbage(rng))
            sent += 1
            if sent % 200 == 0:
                while fuzzer.poll(0):
                    fuzzer.recv_multipart()
        fuzzer.close()
        ctx.term()
        time.sleep(2)
        stop.set()
        worker.join(30)

        print(
            "flood: sent=%d malformed=%d rss_growth=%.1f MiB legit_calls=%d"
            % (
                sent,
                proxy.metrics()["counters"]["malformed"] if proxy.alive() else -1,
                ((proxy.metrics()["rss_bytes"] if proxy.alive() else 0) - rss_before) / 2**20,
                legit["ok"],
            )
        )
        assert proxy.alive(), "proxy crashed"
        assert proxy.health()[0] == 200
        metrics = proxy.metrics()
        assert sent >= MESSAGES * 0.5, "flood too slow to mean anything: %d" % sent
        assert metrics["counters"]["malformed"] > sent * 0.4
        assert metrics["held_now"]["messages"] <= 5000
        assert metrics["rss_bytes"] - rss_before < RSS_GROWTH_LIMIT
        assert legit["errors"] == []
        assert legit["ok"] > 20
        assert [client.call({}, "echo", value=i) for i in range(10)] == list(range(10))
        server.stop()
        server.wait()
    finally:
        proxy.stop()
