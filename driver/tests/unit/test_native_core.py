"""The native core against the Python path: the same messages, the same outcome.

One scenario (registrations, casts and calls, ACKs and replies, pings, and the messages
the core must leave to Python: a copy sent again, a pin, a fanout, a notification, a
confirmation asked for, batched ACKs, malformed headers, a REGISTER that changes the
targets or comes after the keys were read again) runs through a real proxy
on a real ROUTER with real DEALER peers, once with core=python and once with
core=native, in both security modes.  What every peer received, the proxy's counters
and its routing table must be the same; the core must have handled the common
messages itself and left every other one to Python.
"""

import os
import socket
import time

import msgpack
import pytest
import zmq
from oslo_config import cfg

from oslo_messaging_zmq import options, proxy, security, wire
from oslo_messaging_zmq.proxy import Proxy

if proxy.load_native_core() is None:
    if os.environ.get("OSLO_MESSAGING_ZMQ_TEST_NATIVE") == "required":
        raise RuntimeError("oslo_messaging_zmq._core is not built, and tox requires it")
    pytest.skip("the native core is not built here (no C compiler?)", allow_module_level=True)

LISTENERS = (b"L1", b"L2", b"L3")
TARGETS = {
    b"L1": [(wire.RPC, "ex", "t", "s1"), (wire.NOTIFY, "ex", "n.info", "pool")],
    b"L2": [(wire.RPC, "ex", "t", "s2")],
    b"L3": [(wire.RPC, "ex", "t", "s3"), (wire.RPC, "ex", "other", "s3")],
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Cloud:
    """A proxy and its peers, driven one step at a time."""

    def __init__(self, core: str, mode: str, keys_dir) -> None:
        conf = cfg.ConfigOpts()
        options.register_proxy(conf)
        conf([], project="test")
        group = "zmq_proxy"
        conf.set_override("bind_address", "127.0.0.1", group=group)
        conf.set_override("port", _free_port(), group=group)
        conf.set_override("security_mode", mode, group=group)
        conf.set_override("core", core, group=group)
        conf.set_override("hold_ttl", 30, group=group)
        peer_keys = {}
        if mode == "curve":
            allowed = keys_dir / "allowed"
            allowed.mkdir(parents=True, exist_ok=True)
            security.write_key_pair(str(keys_dir), "proxy", force=True)
            for name in (b"S", *LISTENERS):
                public, secret = security.write_key_pair(str(keys_dir), name.decode(), force=True)
                (allowed / (name.decode() + ".key")).write_text(open(public).read())
                peer_keys[name] = security.read_key_file(secret)
            conf.set_override(
                "server_secret_key_file", str(keys_dir / "proxy.key_secret"), group=group
            )
            conf.set_override("allowed_clients", str(allowed), group=group)
        self.proxy = Proxy(conf.zmq_proxy)
        self.proxy.bind()
        assert (self.proxy.core is not None) == (core == "native")
        server_public = None
        if mode == "curve":
            server_public = security.read_key_file(str(keys_dir / "proxy.key_secret"))["public"]
        self.ctx = zmq.Context()
        self.peers = {}
        for name in (b"S", *LISTENERS):
            sock = self.ctx.socket(zmq.DEALER)
            sock.setsockopt(zmq.IDENTITY, name)
            sock.setsockopt(zmq.LINGER, 0)
            if mode == "curve":
                security.configure_client(sock, peer_keys[name], server_public)
            sock.connect(self.proxy.endpoint)
            self.peers[name] = sock
        self.transcript = []

    def pump(self, until: float = 0.3) -> None:
        """Run the proxy's loop body until it has been idle for a while."""
        prx = self.proxy
        deadline = time.monotonic() + until
        while time.monotonic() < deadline:
            busy = False
            for sock, handler in ((prx.monitor, prx._handle_monitor), (prx.zap, prx._handle_zap)):
                if sock is not None and sock.poll(0):
                    handler()
                    busy = True
            if prx.router.poll(5):
                prx._receive_burst()
                busy = True
            if prx._verdicts_due:
                prx.flush_verdicts()
            if busy:
                deadline = time.monotonic() + 0.05

    def step(self, name: bytes, mtype: bytes, header: dict, body: bytes = b"") -> None:
        self.peers[name].send(wire.encode(mtype, header, body)[0])
        self.pump()
        self.collect()

    def raw(self, name: bytes, frame: bytes) -> None:
        self.peers[name].send(frame)
        self.pump()
        self.collect()

    def collect(self) -> None:
        got = []
        for name, sock in self.peers.items():
            while sock.poll(20):
                mtype, header, body = wire.decode(sock.recv_multipart())
                got.append((name, mtype, header, body))
        self.transcript.append(got)

    def close(self) -> None:
        for sock in self.peers.values():
            sock.close(0)
        self.ctx.term()
        self.proxy.close()


def _send(msg_id, **fields):
    header = {wire.F_ID: msg_id, wire.F_KIND: wire.RPC, wire.F_EXCHANGE: "ex", wire.F_TOPIC: "t"}
    header.update(fields)
    return wire.SEND, header, b'{"msg": 1}'


def _ack(msg_id, **fields):
    return wire.ACK, dict({wire.F_ID: msg_id, wire.F_TO: b"S".hex()}, **fields), b""


def _reply(msg_id, **fields):
    return wire.REPLY, dict({wire.F_ID: msg_id, wire.F_TO: b"S".hex()}, **fields), b'{"r": 1}'


def _register(name, *extra):
    return wire.REGISTER, {wire.F_TARGETS: [list(t) for t in TARGETS[name] + list(extra)]}, b""


# (peer, message, handled by the core)
SCENARIO = [
    (b"S", _send("first", **{wire.F_SEQ: 0}), False),  # its target label is new: Python
    (b"S", _send("c1", **{wire.F_SEQ: 1, wire.F_TRY: 1}), True),
    (b"S", _send("c2", **{wire.F_SEQ: 2}), True),
    (b"S", _send("call1", **{wire.F_SEQ: 3, wire.F_CALL: 1, wire.F_TTL: 30}), True),
    (b"S", _send("direct", **{wire.F_SEQ: 9, wire.F_SERVER: "s2", wire.F_TTL: 5.5}), True),
    (b"S", _send("noseq1", **{wire.F_TOPIC: "other"}), False),  # a new label again
    (b"S", _send("noseq2", **{wire.F_TOPIC: "other"}), True),  # one listener: no dice
    (b"S", _send("again", **{wire.F_SEQ: 3, wire.F_TRY: 2}), False),
    (b"S", _send("pinned", **{wire.F_SEQ: 3, wire.F_PIN: b"L3".hex()}), False),
    (b"S", _send("fan", **{wire.F_FANOUT: 1}), False),
    (b"S", _send("note", **{wire.F_KIND: wire.NOTIFY, wire.F_TOPIC: "n.info"}), False),
    (b"S", _send("nobody", **{wire.F_SEQ: 1, wire.F_TOPIC: "t-unknown"}), False),
    (b"S", _send("badttl", **{wire.F_SEQ: 1, wire.F_TTL: None}), False),
    (b"S", _send("badseq", **{wire.F_SEQ: True}), False),
    (b"S", _send("big", **{wire.F_SEQ: 2**62}), False),
    (b"S", _send("nested", **{wire.F_SEQ: 1, "extra": [1, 2]}), False),
    # a sender that reads batched "taken": the DELIVER says so (exactly 1, int or bool)
    (b"S", _send("k1", **{wire.F_SEQ: 1, wire.F_TRY: 1, wire.F_IDS_OK: 1}), True),
    (b"S", _send("k2", **{wire.F_SEQ: 4, wire.F_IDS_OK: True}), True),
    (b"S", _send("k3", **{wire.F_SEQ: 7, wire.F_IDS_OK: 2}), True),
    (b"S", _send("kcall", **{wire.F_SEQ: 1, wire.F_CALL: 1, wire.F_IDS_OK: 1}), True),
    (b"L2", _ack("c1"), True),
    (b"L2", _ack("k1", **{wire.F_IDS: ["k1", "k2", "k3"], wire.F_STATE: wire.TAKEN}), False),
    (b"L2", _reply("kcall"), True),
    (b"L3", _ack("c2", **{wire.F_STATE: wire.WAITING, wire.F_TRY: 1, wire.F_COPIES: 1}), True),
    (b"L3", _ack("c2"), True),
    (b"L1", _reply("call1", **{wire.F_HB: 1}), True),
    (b"L1", _reply("call1"), True),
    (b"L2", _ack("direct", **{wire.F_CONFIRM: 1, wire.F_BEAT: 1.0}), False),
    (b"L2", _ack("first", **{wire.F_IDS: ["first"], wire.F_STATE: wire.WAITING}), False),
    (b"L2", _ack("c1", **{wire.F_STATE: "lost"}), False),
    (b"L1", _reply("call1"), None),  # answered already: relayed in plain mode, refused in curve
    (b"S", _send("call2", **{wire.F_SERVER: "s2", wire.F_CALL: 1}), True),
    # to another peer than the message's sender: relayed in plain mode, refused in curve
    (b"L2", _reply("call2", **{wire.F_TO: b"L3".hex()}), None),
    (b"L2", _reply("call2"), True),
    (b"L1", _register(b"L1"), True),  # the same targets again: a heartbeat
    (b"L3", _register(b"L3"), True),
    (b"S", (wire.HELLO, {}, b""), True),
    (b"S", (wire.HELLO, {"x": [1]}, b""), False),  # a header the core does not read
    (b"L2", _register(b"L2", (wire.RPC, "ex", "t2", "s2")), False),  # a new target
    (b"L2", _register(b"L2", (wire.RPC, "ex", "t2", "s2")), True),
    (b"L2", _register(b"L2"), False),  # one target fewer
    # another server name of the same length: a frame as long as the one before
    (b"L2", (wire.REGISTER, {wire.F_TARGETS: [[wire.RPC, "ex", "t", "s4"]]}, b""), False),
    (b"L2", _register(b"L2"), False),
]

# after the scenario, in CURVE mode: L3's key may now listen on ex:t/s3 only
RESTRICTED = [(b"L3", _register(b"L3"), False), (b"L3", _register(b"L3"), False)]

# a cast the core would route but Python finds malformed: an unknown key's string is not UTF-8
_PACKED = msgpack.packb(
    {"id": "u", "kind": "r", "exchange": "ex", "topic": "t", "seq": 1, "x": b"\xff"},
    use_bin_type=False,
)
BAD_UTF8 = wire.MAGIC + wire.SEND + len(_PACKED).to_bytes(2, "big") + _PACKED + b"{}"


def _run(core: str, mode: str, keys_dir) -> tuple[list, dict, dict, int]:
    cloud = Cloud(core, mode, keys_dir)
    try:
        for name in LISTENERS:
            targets = [list(t) for t in TARGETS[name]]
            cloud.step(name, wire.REGISTER, {wire.F_TARGETS: targets})
        cloud.step(b"S", wire.HELLO, {})
        handled_before = cloud.proxy.core.handled if cloud.proxy.core else 0
        expected = 0
        for name, (mtype, header, body), native in SCENARIO:
            cloud.step(name, mtype, header, body)
            if native is True or (native is None and mode == "plain"):
                expected += 1
        cloud.raw(b"S", BAD_UTF8)
        # a call whose time to be answered is over: relayed in plain mode, refused in curve
        cloud.step(b"S", *_send("late", **{wire.F_SERVER: "s2", wire.F_CALL: 1}))
        book = cloud.proxy.answers._entries
        if mode == "curve":
            book[(b"L2", "late")] = (book[(b"L2", "late")][0], time.monotonic())
        cloud.step(b"L2", *_reply("late"))
        expected += 2 if mode == "plain" else 1
        before = cloud.proxy.table.peers[b"L1"].last_seen
        cloud.step(b"L1", *_register(b"L1"))
        expected += 1
        assert cloud.proxy.table.peers[b"L1"].last_seen > before
        if mode == "curve":
            _restrict(cloud, keys_dir, b"L3", 'listen = "ex:t/s3"')
            for name, (mtype, header, body), _native in RESTRICTED:
                cloud.step(name, mtype, header, body)
        handled = cloud.proxy.core.handled - handled_before if cloud.proxy.core else expected
        assert handled == expected
        counters = (dict(cloud.proxy.counters.total), dict(cloud.proxy.counters.targets))
        table = {i.hex(): sorted(p.targets) for i, p in cloud.proxy.table.peers.items()}
        # who may answer what, and to whom (the expiries follow each run's clock)
        answers = sorted((k, e[0]) for k, e in cloud.proxy.answers._entries.items())
        assert len(cloud.proxy.answers._order) >= len(answers)
        return cloud.transcript, counters, table, answers
    finally:
        cloud.close()


def _restrict(cloud, keys_dir, name: bytes, rule: str) -> None:
    """Give name's key file a permission, and have the proxy read its keys again (SIGHUP)."""
    path = keys_dir / "allowed" / (name.decode() + ".key")
    path.write_text(path.read_text().replace("metadata\n", "metadata\n    %s\n" % rule))
    cloud.proxy._load_allowed(force=True)
    assert cloud.proxy._allowed[cloud.proxy._owner[name]].permissions is not None


def _comparable(transcript):
    # a confirmation's batch and a PONG are the same; the order of peers within one
    # step is the collector's; everything else must match exactly
    return [sorted(step, key=repr) for step in transcript]


@pytest.mark.parametrize("mode", ["plain", "curve"])
def test_native_core_does_what_python_does(mode, tmp_path):
    python = _run("python", mode, tmp_path / "python")
    native = _run("native", mode, tmp_path / "native")
    assert _comparable(native[0]) == _comparable(python[0])
    assert native[1] == python[1]
    assert native[2] == python[2]
    assert native[3] == python[3]
    assert bool(python[3]) == (mode == "curve")  # the book is CURVE's, and used there
    # the scenario reached the listeners at all (not two empty transcripts)
    delivered = [m for step in python[0] for m in step if m[1] == wire.DELIVER]
    assert len(delivered) >= 8
    ids_ok = {m[2][wire.F_ID]: m[2].get(wire.F_IDS_OK) for m in delivered}
    assert [ids_ok[k] for k in ("k1", "k2", "k3", "kcall", "c1")] == [1, 1, None, None, None]
    # the batched "taken" reached the sender with its ids (the sender is S)
    acks = [m for step in python[0] for m in step if m[1] == wire.ACK and wire.F_IDS in m[2]]
    batched = [(m[0], m[2][wire.F_IDS]) for m in acks if m[2][wire.F_STATE] == wire.TAKEN]
    assert batched == [(b"S", ["k1", "k2", "k3"])]
    # badttl, badseq, big, the unknown ACK state and the string that is not UTF-8
    assert python[1][0]["malformed"] == 5
    # every REGISTER and HELLO got its PONG
    pings = sum(1 for _p, (mtype, _h, _b), _n in SCENARIO if mtype in (wire.REGISTER, wire.HELLO))
    pongs = [m for step in python[0] for m in step if m[1] == wire.PONG]
    assert len(pongs) == pings + len(LISTENERS) + 2 + (len(RESTRICTED) if mode == "curve" else 0)
    if mode == "curve":
        # the REGISTERs after the keys were read again: the target L3 lost, and said so
        assert (wire.RPC, "ex", "other", "s3") not in [tuple(t) for t in python[2][b"L3".hex()]]
        assert python[1][0]["acl_denied"] == len(RESTRICTED)
        assert any(m[0] == b"L3" and m[1] == wire.STATUS for step in python[0] for m in step)


def test_core_native_refuses_to_start_without_the_module(monkeypatch, tmp_path):
    monkeypatch.setattr(proxy, "load_native_core", lambda: None)
    with pytest.raises(SystemExit, match="core=native"):
        Cloud("native", "plain", tmp_path)
