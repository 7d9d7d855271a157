"""Authorization in the proxy: routing ids bound to keys, revocation, per-key permissions.

Real proxies, real oslo.messaging peers, and bare pyzmq peers (rawpeer.py) where a
test needs to choose a routing id or speak for an intruder."""

from __future__ import annotations

import dataclasses
import os
import time
import uuid

import harness
import oslo_messaging
import pytest
import zmq
from rawpeer import RawPeer

from oslo_messaging_zmq import security, wire

EXCHANGE = "openstack"


@pytest.fixture
def ctx():
    context = zmq.Context()
    yield context
    context.destroy(linger=0)


@pytest.fixture
def keys(tmp_path):
    return harness.make_keys(str(tmp_path / "keys"))


@pytest.fixture
def proxy(keys, tmp_path):
    started = harness.ProxyProcess(keys, str(tmp_path)).start()
    yield started
    started.stop()


def allow(keys: harness.Keys, name: str, **metadata) -> str:
    """A new client key pair allowed by the proxies (metadata in its public file); its secret."""
    public, secret = security.write_key_pair(keys.directory, name)
    text = open(public).read()
    lines = "".join('    %s = "%s"\n' % item for item in metadata.items())
    text = text.replace("metadata\n", "metadata\n" + lines)
    staged = os.path.join(keys.directory, name + ".staged")
    with open(staged, "w") as handle:
        handle.write(text)
    os.replace(staged, os.path.join(keys.allowed_dir, name + ".key"))  # as Ansible writes it
    return secret


def wait_loaded(proxy, count: int) -> None:
    line = "loaded %d allowed client keys" % count
    assert harness.wait_for(lambda: line in open(proxy.log_path).read()), line


def raw(ctx, proxy, keys, secret, ident=None) -> RawPeer:
    return RawPeer(ctx, proxy.address, secret, keys.server_public, ident)


def listeners(proxy, topic: str) -> int:
    label = wire.target_label(wire.RPC, EXCHANGE, topic)
    return proxy.metrics()["targets"].get(label, {}).get("listeners", 0)


def counter(proxy, name: str) -> int:
    return proxy.metrics()["counters"].get(name, 0)


def delivered_ids(peer: RawPeer) -> list[str]:
    return [h[wire.F_ID] for h in peer.of_type(wire.DELIVER)]


def caster(transports, proxies, keys, topic: str, **query):
    url = harness.transport_url(proxies, keys, **query)
    return oslo_messaging.get_rpc_client(
        transports(url), oslo_messaging.Target(topic=topic), timeout=5
    )


def test_bound_routing_id_is_refused_to_another_key(ctx, keys, proxy, transports):
    intruder_secret = allow(keys, "intruder")
    topic = "bind-" + uuid.uuid4().hex
    ident = b"s" + uuid.uuid4().bytes
    victim = raw(ctx, proxy, keys, keys.client_secret, ident)
    victim.register((wire.RPC, EXCHANGE, topic, "v"))
    assert harness.wait_for(lambda: listeners(proxy, topic) == 1)

    # while the owner is connected, the same id with another key gets nothing
    wait_loaded(proxy, 2)
    admitted = counter(proxy, "auth_allowed")
    intruder = raw(ctx, proxy, keys, intruder_secret, ident)
    assert harness.wait_for(lambda: counter(proxy, "auth_allowed") == admitted + 1)
    intruder.register((wire.RPC, EXCHANGE, topic, "i"))
    client = caster(transports, [proxy], keys, topic)
    for i in range(10):
        client.cast({}, "echo", value=i)
    victim.drain(1.0)
    intruder.drain(0.2)
    assert len(delivered_ids(victim)) == len(set(delivered_ids(victim))) == 10
    assert intruder.received == []
    intruder.close()

    # the owner's connection closes: its id stays bound to its key
    victim.close()
    assert harness.wait_for(lambda: listeners(proxy, topic) == 0)
    second = raw(ctx, proxy, keys, intruder_secret, ident)
    second.register((wire.RPC, EXCHANGE, topic, "v"))
    assert harness.wait_for(lambda: counter(proxy, "identity_denied") > 0)
    for i in range(3):
        client.cast({}, "echo", value=100 + i)
    second.drain(0.5)
    assert listeners(proxy, topic) == 0
    assert second.received == []
    second.close()

    # the owner comes back with its id and key: served at once, held casts included
    back = raw(ctx, proxy, keys, keys.client_secret, ident)
    # registered again until served, as the driver's listeners do every heartbeat: a
    # connection that comes while the proxy still holds the closed one's id is refused
    # (no handover under CURVE) and what it sent is gone
    deadline = time.monotonic() + 10
    while len(delivered_ids(back)) < 3 and time.monotonic() < deadline:
        back.register((wire.RPC, EXCHANGE, topic, "v"))
        back.drain(0.3)
    back.drain(0.5)
    assert sorted(delivered_ids(back)) == sorted(set(delivered_ids(back)))
    assert len(delivered_ids(back)) == 3
    log = open(proxy.log_path).read()
    assert "bound to key client.key" in log and "to key intruder.key" in log
    assert security.read_key_file(intruder_secret)["secret"].decode() not in log
    back.close()


class Echo:
    def __init__(self):
        self.seen = []

    def echo(self, ctxt, value):
        self.seen.append(value)
        return value


def url_for(proxies, keys, secret, **query) -> str:
    """A transport URL of the proxies for the client key pair in secret."""
    mine = dataclasses.replace(keys, client_secret=secret)
    return harness.transport_url(proxies, mine, **query)


def _probe(peer: RawPeer) -> str | None:
    """A mandatory send to a topic nobody serves: the proxy's reason for dropping it."""
    msg_id = uuid.uuid4().hex
    header = {
        wire.F_ID: msg_id,
        wire.F_KIND: wire.RPC,
        wire.F_EXCHANGE: EXCHANGE,
        wire.F_TOPIC: "nobody-" + msg_id,
        wire.F_MANDATORY: 1,
    }
    peer.send(wire.SEND, header, b"{}")
    peer.drain(0.05)
    why = [h.get(wire.F_WHY) for h in peer.of_type(wire.STATUS) if h.get(wire.F_ID) == msg_id]
    return why[0] if why else None


def test_revoked_key_loses_its_open_sessions_within_a_heartbeat(ctx, keys, proxy, transports):
    heartbeat = 1.0
    secret = allow(keys, "revokee")
    wait_loaded(proxy, 2)
    topic = "revoke-" + uuid.uuid4().hex
    revokee_url = url_for([proxy], keys, secret, heartbeat_interval=heartbeat, connect_timeout=2)
    endpoint = Echo()
    server = oslo_messaging.get_rpc_server(
        transports(revokee_url),
        oslo_messaging.Target(topic=topic, server="r"),
        [endpoint],
        executor="threading",
    )
    server.start()
    revokee = oslo_messaging.get_rpc_client(
        transports(revokee_url), oslo_messaging.Target(topic=topic), timeout=3
    )
    good = caster(transports, [proxy], keys, topic, heartbeat_interval=heartbeat)
    try:
        assert good.call({}, "echo", value="before") == "before"
        assert revokee.call({}, "echo", value="own") == "own"

        # a bare session of the same key, open before the revocation
        sender = raw(ctx, proxy, keys, secret)
        assert _probe(sender) == wire.NO_LISTENER

        os.unlink(os.path.join(keys.allowed_dir, "revokee.key"))
        start = time.monotonic()
        assert harness.wait_for(lambda: listeners(proxy, topic) == 0, timeout=5, interval=0.02)
        unregistered = time.monotonic() - start
        while _probe(sender) != wire.KEY_REVOKED:
            assert time.monotonic() - start < 5
        refused = time.monotonic() - start
        print(
            "revocation: unregistered after %.3f s, refused after %.3f s" % (unregistered, refused)
        )
        assert unregistered < heartbeat and refused < heartbeat, (unregistered, refused)
        sender.close()
        with pytest.raises(oslo_messaging.MessageDeliveryFailure, match="revoked"):
            revokee.prepare(retry=1).cast({}, "echo", value="after")

        # it receives nothing more: the good client's messages are held for a listener
        good.cast({}, "echo", value="held")
        time.sleep(2 * heartbeat)
        assert endpoint.seen == ["before", "own"]
        assert counter(proxy, "revoked") > 0
        log = open(proxy.log_path).read()
        assert "key revokee.key revoked" in log
    finally:
        server.stop()
        server.wait()


def _server(transports, url, topic, server, endpoint):
    rpc = oslo_messaging.get_rpc_server(
        transports(url),
        oslo_messaging.Target(topic=topic, server=server),
        [endpoint],
        executor="threading",
    )
    rpc.start()
    return rpc


def test_key_listens_and_sends_only_where_its_file_permits(keys, proxy, transports, caplog):
    conductor_secret = allow(keys, "ctl-nova-conductor", listen="openstack:conductor", send="*")
    cmp1_secret = allow(
        keys, "cmp1-nova-compute", listen="openstack:compute/cmp1", send="openstack:conductor"
    )
    wait_loaded(proxy, 3)
    cmp1_url = url_for([proxy], keys, cmp1_secret, connect_timeout=3)
    conductor, rogue, compute = Echo(), Echo(), Echo()
    servers = [
        _server(transports, url_for([proxy], keys, conductor_secret), "conductor", "c1", conductor),
        _server(transports, cmp1_url, "conductor", "cmp1", rogue),  # the intruder
        _server(transports, cmp1_url, "compute", "cmp1", compute),
    ]
    try:
        assert harness.wait_for(lambda: listeners(proxy, "conductor") == 1)
        assert harness.wait_for(lambda: listeners(proxy, "compute") == 1)
        assert harness.wait_for(lambda: counter(proxy, "acl_denied") > 0)

        sender = caster(transports, [proxy], keys, "conductor")
        for i in range(20):
            sender.cast({}, "echo", value=i)
        assert harness.wait_for(lambda: len(conductor.seen) >= 20)
        assert sender.prepare(topic="compute", server="cmp1").call({}, "echo", value="c") == "c"
        time.sleep(0.5)
        assert sorted(conductor.seen) == list(range(20))  # each exactly once
        assert rogue.seen == []
        assert compute.seen == ["c"]

        cmp1 = oslo_messaging.get_rpc_client(
            transports(cmp1_url), oslo_messaging.Target(topic="conductor"), timeout=5
        )
        assert cmp1.call({}, "echo", value="up") == "up"
        with pytest.raises(oslo_messaging.MessageDeliveryFailure, match="not permitted"):
            cmp1.prepare(topic="compute", retry=1).cast({}, "echo", value="sideways")
        assert harness.wait_for(lambda: counter(proxy, "acl_denied") >= 2)
        assert "sideways" not in compute.seen

        label = wire.target_label(wire.RPC, EXCHANGE, "conductor")
        assert proxy.metrics()["targets"][label]["acl_denied"] > 0
        log = open(proxy.log_path).read()
        assert "key cmp1-nova-compute.key) to listen on openstack:conductor/cmp1" in log
        assert "key cmp1-nova-compute.key) to send to openstack:compute" in log
        assert "1 client keys carry no listen/send metadata and keep every right: client.key" in log
        # the refused listener was told why, in its own log
        told = "not permitted: listen on openstack:conductor/cmp1"
        assert any(told in r.getMessage() for r in caplog.records if r.levelname == "ERROR")
    finally:
        for rpc in servers:
            rpc.stop()
            rpc.wait()


def test_forged_answers_are_dropped_real_ones_pass(ctx, keys, proxy, transports):
    forger_secret = allow(keys, "forger")
    wait_loaded(proxy, 2)
    topic = "answer-" + uuid.uuid4().hex
    listener = raw(ctx, proxy, keys, keys.client_secret)
    listener.register((wire.RPC, EXCHANGE, topic, "l"))
    forger = raw(ctx, proxy, keys, forger_secret)
    forger.register((wire.RPC, EXCHANGE, "forger-" + topic, "f"))
    caller = raw(ctx, proxy, keys, keys.client_secret)
    caller.send(wire.HELLO, {})
    assert harness.wait_for(lambda: listeners(proxy, topic) == 1)
    call = {wire.F_KIND: wire.RPC, wire.F_EXCHANGE: EXCHANGE, wire.F_TOPIC: topic, wire.F_CALL: 1}
    caller.send(wire.SEND, dict(call, **{wire.F_ID: "m1"}), b"{}")
    listener.drain(0.5)
    (delivered,) = listener.of_type(wire.DELIVER)
    to_caller = delivered[wire.F_FROM]
    assert to_caller == caller.ident.hex()

    before = counter(proxy, "reply_denied")
    forger.send(wire.REPLY, {wire.F_ID: "m1", wire.F_TO: to_caller}, b'{"result": "forged"}')
    forger.send(wire.ACK, {wire.F_ID: "m1", wire.F_TO: to_caller, wire.F_STATE: wire.TAKEN})
    forger.send(
        wire.ACK,
        {wire.F_ID: "x", wire.F_IDS: ["m1"], wire.F_TO: to_caller, wire.F_STATE: wire.WAITING},
    )
    assert harness.wait_for(lambda: counter(proxy, "reply_denied") == before + 3)
    listener.send(wire.REPLY, {wire.F_ID: "m1", wire.F_TO: to_caller}, b'{"result": "real"}')
    caller.drain(0.5)
    replies = [(h, b) for t, h, b in caller.received if t == wire.REPLY]
    assert replies == [({wire.F_ID: "m1"}, b'{"result": "real"}')]
    assert caller.of_type(wire.ACK) == []
    # answered: a second reply to the same message no longer passes
    listener.send(wire.REPLY, {wire.F_ID: "m1", wire.F_TO: to_caller}, b'{"result": "again"}')
    assert harness.wait_for(lambda: counter(proxy, "reply_denied") == before + 4)

    # real oslo.messaging calls still get their replies
    endpoint = Echo()
    server = _server(
        transports, harness.transport_url([proxy], keys), "echo-" + topic, "s", endpoint
    )
    try:
        client = caster(transports, [proxy], keys, "echo-" + topic)
        assert [client.call({}, "echo", value=i) for i in range(10)] == list(range(10))
    finally:
        server.stop()
        server.wait()
    for peer in (listener, forger, caller):
        peer.close()
