from oslo_messaging_zmq import wire
from oslo_messaging_zmq.routing import Counters, Held, HoldStore, RoutingTable, hold_keys_for


def test_round_robin_direct_and_fanout():
    table = RoutingTable()
    for name in ("a", "b", "c"):
        table.register(name.encode(), [(wire.RPC, "ex", "t", name)], 0.0)
    picks = [table.route(wire.RPC, "ex", "t", "", False)[0] for _ in range(6)]
    assert sorted(picks) == sorted([b"a", b"b", b"c"] * 2)
    assert picks[:3] != picks[:1] * 3
    assert table.route(wire.RPC, "ex", "t", "b", False) == [b"b"]
    assert sorted(table.route(wire.RPC, "ex", "t", "", True)) == [b"a", b"b", b"c"]
    assert table.route(wire.RPC, "other", "t", "", False) == []  # exchange isolation
    assert table.route(wire.RPC, "ex", "t", "zzz", False) == []


def test_notification_pools_get_one_copy_each():
    table = RoutingTable()
    table.register(b"a1", [(wire.NOTIFY, "ex", "n.info", "")], 0.0)
    table.register(b"a2", [(wire.NOTIFY, "ex", "n.info", "")], 0.0)
    table.register(b"p1", [(wire.NOTIFY, "ex", "n.info", "pool1")], 0.0)
    dests = table.route(wire.NOTIFY, "ex", "n.info", "", False)
    assert len(dests) == 2 and b"p1" in dests
    assert table.listeners_by_label() == {"notify/ex/n.info": 3}


def test_unregister_expire_and_reregister():
    table = RoutingTable()
    assert table.register(b"a", [(wire.RPC, "ex", "t", "a")], 0.0) == [(wire.RPC, "ex", "t", "a")]
    assert table.register(b"a", [(wire.RPC, "ex", "t", "a")], 1.0) == []
    assert table.expire(3.0, 5.0) == []
    assert table.expire(10.0, 5.0) == [b"a"]
    assert table.route(wire.RPC, "ex", "t", "", False) == []
    table.register(b"b", [(wire.RPC, "ex", "t", "b")], 0.0)
    table.unregister(b"b")
    assert table.peers == {}


def test_hold_store_bounds_and_ttl():
    store = HoldStore(max_messages=2, max_bytes=10_000)
    key = (wire.RPC, "ex", "t", "")
    assert store.hold(key, Held(5.0, b"c", {"id": "1"}, b"x", 100))
    assert store.hold(key, Held(50.0, b"c", {"id": "2"}, b"x", 100))
    assert not store.hold(key, Held(50.0, b"c", {"id": "3"}, b"x", 100))
    expired = store.expire(10.0)
    assert [h.header["id"] for _, h in expired] == ["1"]
    assert store.count == 1 and store.bytes == 100
    assert [h.header["id"] for h in store.take(key)] == ["2"]
    assert store.count == 0 and store.bytes == 0
    big = HoldStore(max_messages=10, max_bytes=150)
    assert big.hold(key, Held(1, b"c", {}, b"", 100))
    assert not big.hold(key, Held(1, b"c", {}, b"", 100))


def test_hold_keys_for_server_target_include_topic():
    assert hold_keys_for((wire.RPC, "ex", "t", "s")) == [
        (wire.RPC, "ex", "t", ""),
        (wire.RPC, "ex", "t", "s"),
    ]
    assert hold_keys_for((wire.NOTIFY, "ex", "n.info", "pool")) == [
        (wire.NOTIFY, "ex", "n.info", "")
    ]


def test_counters_are_bounded():
    counters = Counters(max_targets=2)
    for i in range(5):
        counters.inc("routed", "rpc/ex/t%d" % i)
    assert set(counters.targets) == {"rpc/ex/t0", "rpc/ex/t1", "_other"}
    assert counters.targets["_other"]["routed"] == 3
    assert counters.total["routed"] == 5
