"""The proxy's message handling without network peers."""

import pytest
from oslo_config import cfg

from oslo_messaging_zmq import options, wire
from oslo_messaging_zmq.proxy import Proxy


@pytest.fixture
def proxy():
    conf = cfg.ConfigOpts()
    options.register_proxy(conf)
    conf([], project="test")
    conf.set_override("security_mode", "plain", group="zmq_proxy")
    instance = Proxy(conf.zmq_proxy)
    yield instance
    instance.close()


def test_malformed_counted_not_raised(proxy):
    for frames in ([b"id"], [b"id", b"junk", b"x", b"y"], [b"", *wire.encode(wire.HELLO, {})]):
        proxy.handle(frames)
    assert proxy.counters.total["malformed"] == 3


def test_send_without_listener_is_held_then_expires(proxy):
    header = {"id": "m1", "k": "r", "ex": "ex", "t": "topic", "ttl": 0.01}
    proxy.handle([b"client", *wire.encode(wire.SEND, header, b"{}")])
    assert proxy.holds.count == 1
    assert proxy.counters.targets["rpc/ex/topic"]["held"] == 1
    import time

    time.sleep(0.02)
    proxy.maintenance()
    assert proxy.holds.count == 0
    assert proxy.counters.total["expired"] == 1
    snap = proxy.metrics()
    assert snap["targets"]["rpc/ex/topic"]["dropped"] == 1
    assert set(snap) >= {"counters", "held_now", "peers", "targets", "version", "rss_bytes"}


def test_register_flushes_held_and_tracks_listeners(proxy):
    header = {"id": "m2", "k": "r", "ex": "ex", "t": "topic"}
    proxy.handle([b"client", *wire.encode(wire.SEND, header, b"{}")])
    targets = {"targets": [["r", "ex", "topic", "srv"]]}
    proxy.handle([b"server", *wire.encode(wire.REGISTER, targets)])
    assert proxy.holds.count == 0
    assert proxy.table.route("r", "ex", "topic", "", False) == [b"server"]
    proxy.maintenance()
    assert proxy.metrics()["targets"]["rpc/ex/topic"]["listeners"] == 1
