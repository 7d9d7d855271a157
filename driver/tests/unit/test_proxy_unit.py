"""The proxy's message handling, with its socket sends captured.

A real ROUTER cannot be made to answer "queue full" or "peer gone" on demand,
so _try_send is replaced by a recorder that returns what each test asks for.
"""

import os
import time

import msgpack
import pytest
from oslo_config import cfg

from oslo_messaging_zmq import acl, options, proxy, security, wire
from oslo_messaging_zmq.proxy import Proxy


class RecordingProxy(Proxy):
    def __init__(self, opts):
        super().__init__(opts)
        self.sent = []  # (ident, type, header)
        self.result = {}  # ident -> proxy._SENT / _BUSY / _GONE (default sent)

    def _try_send(self, ident, frames):
        result = self.result.get(ident, proxy._SENT)
        if result == proxy._SENT:
            mtype, header, _body = wire.decode(frames)
            self.sent.append((ident, mtype, header))
        return result

    def to(self, ident, mtype=None):
        return [h for i, t, h in self.sent if i == ident and (mtype is None or t == mtype)]


def make_proxy() -> RecordingProxy:
    """A plain-mode proxy (hold TTL 30 s) whose sends are recorded; close() it."""
    conf = cfg.ConfigOpts()
    options.register_proxy(conf)
    conf([], project="test")
    conf.set_override("security_mode", "plain", group="zmq_proxy")
    conf.set_override("hold_ttl", 30, group="zmq_proxy")
    return RecordingProxy(conf.zmq_proxy)


@pytest.fixture
def prx():
    instance = make_proxy()
    yield instance
    instance.close()


def _send(prx, sender=b"client", **fields):
    header = {wire.F_ID: "m", wire.F_KIND: wire.RPC, wire.F_EXCHANGE: "ex", wire.F_TOPIC: "t"}
    header.update(fields)
    prx.handle([sender, *wire.encode(wire.SEND, header, b"{}")])


def _register(prx, ident, *targets):
    prx.handle([ident, *wire.encode(wire.REGISTER, {wire.F_TARGETS: [list(t) for t in targets]})])


def test_malformed_counted_not_raised(prx):
    for frames in ([b"id"], [b"id", b"junk", b"x", b"y"], [b"", *wire.encode(wire.HELLO, {})]):
        prx.handle(frames)
    assert prx.counters.total["malformed"] == 3


def test_sequence_decides_the_listener(prx):
    for name in (b"s2", b"s1", b"s3"):
        _register(prx, name, (wire.RPC, "ex", "t", name.decode()))
    for seq in range(6):
        _send(prx, **{wire.F_ID: "m%d" % seq, wire.F_SEQ: seq})
    got = {n: [h[wire.F_ID] for h in prx.to(n, wire.DELIVER)] for n in (b"s1", b"s2", b"s3")}
    assert got == {b"s1": ["m0", "m3"], b"s2": ["m1", "m4"], b"s3": ["m2", "m5"]}
    first = prx.to(b"s1", wire.DELIVER)[0]
    assert first[wire.F_ACK] == 1 and first[wire.F_FROM] == b"client".hex()


def test_pin_wins_while_the_pinned_listener_is_a_member(prx):
    for name in (b"s1", b"s2"):
        _register(prx, name, (wire.RPC, "ex", "t", name.decode()))
    _send(prx, **{wire.F_SEQ: 0, wire.F_PIN: b"s2".hex()})
    assert len(prx.to(b"s2", wire.DELIVER)) == 1
    _send(prx, **{wire.F_ID: "x", wire.F_SEQ: 0, wire.F_PIN: b"zz".hex()})  # not a member
    assert [h[wire.F_ID] for h in prx.to(b"s1", wire.DELIVER)] == ["x"]


def test_busy_listener_is_never_replaced(prx):
    for name in (b"s1", b"s2"):
        _register(prx, name, (wire.RPC, "ex", "t", name.decode()))
    prx.result[b"s1"] = proxy._BUSY
    _send(prx, **{wire.F_SEQ: 0})
    assert prx.to(b"s2", wire.DELIVER) == []
    assert prx.to(b"client", wire.STATUS) == [{wire.F_ID: "m", wire.F_STATUS: wire.BUSY}]
    assert prx.holds.count == 0


def test_gone_listener_is_forgotten_and_the_next_chosen(prx):
    for name in (b"s1", b"s2"):
        _register(prx, name, (wire.RPC, "ex", "t", name.decode()))
    prx.result[b"s1"] = proxy._GONE
    _send(prx, **{wire.F_SEQ: 0})
    assert len(prx.to(b"s2", wire.DELIVER)) == 1
    assert b"s1" not in prx.table.peers


def test_fanout_copies_count_and_nobody(prx):
    _send(prx, **{wire.F_FANOUT: 1, wire.F_TRY: 2})
    assert prx.to(b"client", wire.STATUS) == [{wire.F_ID: "m", wire.F_STATUS: wire.ROUTED}]
    for name in (b"s1", b"s2"):
        _register(prx, name, (wire.RPC, "ex", "t", name.decode()))
    _send(prx, **{wire.F_ID: "f", wire.F_FANOUT: 1, wire.F_TRY: 2})
    for name in (b"s1", b"s2"):
        (copy,) = prx.to(name, wire.DELIVER)
        assert copy[wire.F_COPIES] == 2 and copy[wire.F_TRY] == 2 and copy[wire.F_ACK] == 1
    assert len(prx.to(b"client", wire.STATUS)) == 1  # no status when copies went out
    prx.result[b"s2"] = proxy._BUSY
    _send(prx, **{wire.F_ID: "g", wire.F_FANOUT: 1})
    assert prx.to(b"client", wire.STATUS)[-1] == {wire.F_ID: "g", wire.F_STATUS: wire.BUSY}


def test_call_without_listener_held_then_expires(prx):
    prx.opts.hold_ttl  # noqa: B018 - the option exists
    _send(prx, **{wire.F_CALL: 1, wire.F_TTL: 0.01})
    assert prx.holds.count == 1
    assert prx.to(b"client", wire.STATUS) == [{wire.F_ID: "m", wire.F_STATUS: wire.HELD}]
    assert prx.counters.targets["rpc/ex/t"]["held"] == 1
    time.sleep(0.02)
    prx.maintenance()
    assert prx.holds.count == 0
    assert prx.counters.total["expired"] == 1
    snap = prx.stats()
    assert snap["targets"]["rpc/ex/t"]["dropped"] == 1
    assert set(snap) >= {"counters", "held_now", "peers", "targets", "version", "rss_bytes"}


def test_mandatory_call_dropped_at_once(prx):
    _send(prx, **{wire.F_CALL: 1, wire.F_MANDATORY: 1})
    (status,) = prx.to(b"client", wire.STATUS)
    assert status[wire.F_STATUS] == wire.DROPPED and status[wire.F_WHY] == wire.NO_LISTENER


def test_register_flushes_held(prx):
    _send(prx)
    _register(prx, b"server", (wire.RPC, "ex", "t", "srv"))
    assert prx.holds.count == 0
    assert [h[wire.F_ID] for h in prx.to(b"server", wire.DELIVER)] == ["m"]
    prx.maintenance()
    assert prx.stats()["targets"]["rpc/ex/t"]["listeners"] == 1


def _notify(prx, msg_id):
    _send(prx, **{wire.F_ID: msg_id, wire.F_KIND: wire.NOTIFY, wire.F_TOPIC: "n.info"})


def test_notification_before_any_pool_reaches_every_pool(prx):
    _notify(prx, "early")
    assert prx.to(b"client", wire.STATUS)[-1][wire.F_STATUS] == wire.HELD
    _register(prx, b"p1", (wire.NOTIFY, "ex", "n.info", "pool1"))
    _register(prx, b"p2", (wire.NOTIFY, "ex", "n.info", "pool2"))
    _register(prx, b"p1b", (wire.NOTIFY, "ex", "n.info", "pool1"))  # same pool: no second copy
    assert [len(prx.to(i, wire.DELIVER)) for i in (b"p1", b"p2", b"p1b")] == [1, 1, 0]


def test_notification_for_a_pool_gone_is_held_for_it(prx):
    _register(prx, b"p1", (wire.NOTIFY, "ex", "n.info", "pool1"))
    _register(prx, b"p2", (wire.NOTIFY, "ex", "n.info", "pool2"))
    prx.handle([b"p2", *wire.encode(wire.UNREGISTER, {})])
    _notify(prx, "n1")
    (copy,) = prx.to(b"p1", wire.DELIVER)
    assert copy[wire.F_COPIES] == 1
    assert prx.holds.count == 1 and prx.counters.targets["notify/ex/n.info"]["held"] == 1
    _register(prx, b"p2new", (wire.NOTIFY, "ex", "n.info", "pool2"))
    assert [h[wire.F_ID] for h in prx.to(b"p2new", wire.DELIVER)] == ["n1"]
    assert prx.holds.count == 0


def test_ack_relay_names_the_listener_and_keeps_batch_ids(prx):
    ack = {wire.F_ID: "a", wire.F_TO: b"client".hex(), wire.F_STATE: wire.WAITING}
    ack.update({wire.F_IDS: ["a", "b"], wire.F_BY: "forged", wire.F_TRY: 3, wire.F_BATCH: 50})
    ack["extra"] = "dropped"
    prx.handle([b"srv", *wire.encode(wire.ACK, ack)])
    (relayed,) = prx.to(b"client", wire.ACK)
    assert relayed[wire.F_BY] == b"srv".hex()
    assert relayed[wire.F_IDS] == ["a", "b"] and relayed[wire.F_TRY] == 3
    assert relayed[wire.F_BATCH] == 50 and "extra" not in relayed
    bad = dict(ack, **{wire.F_STATE: "eaten"})
    prx.handle([b"srv", *wire.encode(wire.ACK, bad)])
    assert prx.counters.total["malformed"] == 1


def test_stall_keeps_peers(prx):
    _register(prx, b"s1", (wire.RPC, "ex", "t", "s1"))
    frozen_since = time.monotonic() - 2 * prx.opts.peer_timeout
    prx.table.peers[b"s1"].last_seen = frozen_since
    prx._last_clock = frozen_since
    prx._clock()
    prx.maintenance()
    assert b"s1" in prx.table.peers and prx.counters.total["stalls"] == 1


def test_stall_before_maintenance_keeps_peers(prx):
    """Frozen after the poll's clock read (in the burst, or just before the
    housekeeping): the housekeeping's own clock read sees the stall first."""
    _register(prx, b"s1", (wire.RPC, "ex", "t", "s1"))
    _register(prx, b"s2", (wire.RPC, "ex", "t", "s2"))
    frozen_since = time.monotonic() - 2 * prx.opts.peer_timeout
    for peer in prx.table.peers.values():
        peer.last_seen = frozen_since
    prx._last_clock = frozen_since  # the loop's last clock read, before the freeze
    prx.maintenance()
    assert set(prx.table.peers) == {b"s1", b"s2"} and prx.counters.total["stalls"] == 1
    members = prx.table.rpc_members("ex", "t", "")
    assert list(members) == [b"s1", b"s2"]


def test_old_protocol_peer_is_named_in_the_log(prx, caplog):
    frames = [b"old", b"OMZ\x02", wire.HELLO, msgpack.packb({})]
    prx.handle(frames)
    assert prx.counters.total["malformed"] == 1
    assert "speaks zmq protocol version 2, this proxy version 3" in caplog.text


def _hello(prx, ident, user):
    prx.handle([ident, *wire.encode(wire.HELLO, {})], user)


def _allow(prx, *users):
    prx._allowed = {user: security.AllowedKey(user + ".key") for user in users}


def test_routing_id_stays_with_the_key_that_first_used_it(prx):
    _allow(prx, "key-a", "key-b")
    _hello(prx, b"peer", "key-a")
    assert prx.to(b"peer", wire.PONG)
    _hello(prx, b"peer", "key-b")  # another key presenting the same id
    assert len(prx.to(b"peer", wire.PONG)) == 1
    assert prx.counters.total["identity_denied"] == 1
    prx._detach(b"peer", time.monotonic())  # its connection closed
    _hello(prx, b"peer", "key-b")
    assert prx.counters.total["identity_denied"] == 2
    _hello(prx, b"peer", "key-a")  # the owner is back
    assert len(prx.to(b"peer", wire.PONG)) == 2


def test_binding_forgotten_with_the_peer(prx):
    _allow(prx, "key-a", "key-b")
    _hello(prx, b"peer", "key-a")
    prx.clients.clear()
    prx._forget_bindings()
    _hello(prx, b"peer", "key-b")
    assert prx.counters.total["identity_denied"] == 0


def test_key_replaced_by_rename_is_seen_and_revoked(prx, tmp_path):
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    first, _ = security.write_key_pair(str(tmp_path), "first")
    second, _ = security.write_key_pair(str(tmp_path), "second")
    os.replace(first, allowed / "host-nova.key")
    prx.opts = _Opts(prx.opts, allowed_clients=str(allowed))
    prx._load_allowed(force=True)
    old_key = next(iter(prx._allowed))
    _register(prx, b"lst", (wire.RPC, "ex", "t", "s"))
    prx.handle([b"lst", *wire.encode(wire.HELLO, {})], old_key)
    assert prx._owner[b"lst"] == old_key
    os.replace(second, allowed / "host-nova.key")  # as Ansible writes a file
    prx._load_allowed()
    assert old_key not in prx._allowed and len(prx._allowed) == 1
    assert b"lst" not in prx.table.peers
    prx.handle([b"lst", *wire.encode(wire.SEND, _header("m2"), b"{}")], old_key)
    assert prx.to(b"lst", wire.STATUS)[-1][wire.F_WHY] == wire.KEY_REVOKED
    assert prx.counters.total["revoked"] == 1


class _Opts:
    def __init__(self, base, **values):
        self._base, self._values = base, values

    def __getattr__(self, name):
        return self._values[name] if name in self._values else getattr(self._base, name)


def _header(msg_id):
    return {wire.F_ID: msg_id, wire.F_KIND: wire.RPC, wire.F_EXCHANGE: "ex", wire.F_TOPIC: "t"}


def test_register_keeps_the_permitted_targets_and_counts_the_others(prx):
    perms = acl.from_metadata({"listen": "ex:compute/cmp1", "send": "ex:conductor"})
    prx._allowed = {"cmp1": security.AllowedKey("cmp1.key", {}, perms)}
    targets = [(wire.RPC, "ex", "conductor", "cmp1"), (wire.RPC, "ex", "compute", "cmp1")]
    prx.handle([b"cmp", *wire.encode(wire.REGISTER, {wire.F_TARGETS: targets})], "cmp1")
    assert prx.table.peers[b"cmp"].targets == {(wire.RPC, "ex", "compute", "cmp1")}
    assert prx.counters.targets["rpc/ex/conductor"]["acl_denied"] == 1
    prx.handle([b"cmp", *wire.encode(wire.SEND, _header("m1"), b"{}")], "cmp1")
    assert prx.to(b"cmp", wire.STATUS)[-1][wire.F_WHY] == wire.NOT_PERMITTED
    header = dict(_header("m2"), **{wire.F_TOPIC: "conductor", wire.F_MANDATORY: 1})
    prx.handle([b"cmp", *wire.encode(wire.SEND, header, b"{}")], "cmp1")
    assert prx.to(b"cmp", wire.STATUS)[-1][wire.F_WHY] == wire.NO_LISTENER


def test_no_allowed_clients_configured_admits_nobody(prx):
    prx.opts = _Opts(prx.opts, allowed_clients="")
    prx._load_allowed(force=True)
    assert prx._allowed == {}
    prx.handle([b"peer", *wire.encode(wire.HELLO, {})], "some-key")
    assert prx.counters.total["revoked"] == 1 and not prx.to(b"peer", wire.PONG)


def test_a_refused_target_is_told_to_the_listener_once(prx):
    perms = acl.from_metadata({"listen": "ex:compute/cmp1"})
    prx._allowed = {"cmp1": security.AllowedKey("cmp1.key", {}, perms)}
    targets = [(wire.RPC, "ex", "conductor", "cmp1")]
    for _ in range(3):
        prx.handle([b"cmp", *wire.encode(wire.REGISTER, {wire.F_TARGETS: targets})], "cmp1")
    told = [h for h in prx.to(b"cmp", wire.STATUS) if not h[wire.F_ID]]
    assert [h[wire.F_WHY] for h in told] == ["not permitted: listen on ex:conductor/cmp1"]
    assert prx.counters.total["acl_denied"] == 3


class _FakeZap:
    """Marks the proxy as CURVE (answers are checked); nothing is read from it here."""

    def close(self, linger=0):
        pass


def test_a_sender_that_only_sends_keeps_its_binding_and_gets_its_replies(prx):
    # the driver pings every heartbeat; a peer that only sends is alive all the same
    prx.zap = _FakeZap()
    _allow(prx, "key-c", "key-e")
    prx.handle(
        [b"echo", *wire.encode(wire.REGISTER, {wire.F_TARGETS: [["r", "ex", "t", "e"]]})], "key-e"
    )
    header = {wire.F_ID: "m1", wire.F_KIND: wire.RPC, wire.F_EXCHANGE: "ex", wire.F_TOPIC: "t"}
    prx.handle([b"caller", *wire.encode(wire.SEND, dict(header, call=1), b"{}")], "key-c")
    assert prx.to(b"echo", wire.DELIVER)
    prx.maintenance()  # forgets bindings of peers the proxy does not know
    reply = {wire.F_ID: "m1", wire.F_TO: b"caller".hex()}
    prx.handle([b"echo", *wire.encode(wire.REPLY, reply, b"{}")], "key-e")
    assert len(prx.to(b"caller", wire.REPLY)) == 1
    assert prx.counters.total["reply_denied"] == 0


@pytest.mark.parametrize("peer_timeout", [0.1, 1.0, 5.0, 30.0])
def test_zmtp_heartbeat_closes_a_silent_connection_after_the_table_forgot_its_peer(
    peer_timeout,
):
    ivl, timeout = proxy.zmtp_heartbeat(peer_timeout)
    # a silent connection closes between timeout and ivl + timeout after its last message
    assert timeout >= peer_timeout
    assert ivl + timeout <= 1.5 * timeout
    assert ivl >= 0.5


def test_zmtp_heartbeat_pings_less_than_once_a_second_by_default():
    conf = cfg.ConfigOpts()
    options.register_proxy(conf)
    conf([], project="test")
    peer_timeout = conf.zmq_proxy.peer_timeout
    assert proxy.zmtp_heartbeat(peer_timeout) == (peer_timeout / 2, peer_timeout)
    assert peer_timeout / 2 > 1.0
