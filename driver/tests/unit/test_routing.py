from oslo_messaging_zmq import wire
from oslo_messaging_zmq.routing import (
    ANY_POOL,
    AnswerBook,
    Counters,
    Held,
    HoldStore,
    Members,
    RoutingTable,
    hold_keys_for,
)


def _table(*names, server=True):
    table = RoutingTable()
    for name in names:
        table.register(name.encode(), [(wire.RPC, "ex", "t", name if server else "")], 0.0)
    return table


def test_sequence_picks_the_same_listener_on_any_table():
    # two proxies learn the same listeners in different orders
    one = _table("c", "a", "b")
    two = _table("b", "c", "a")
    for seq in range(20):
        assert one.rpc_members("ex", "t", "").pick(seq) == two.rpc_members("ex", "t", "").pick(seq)
    picks = [one.rpc_members("ex", "t", "").pick(seq) for seq in range(6)]
    assert picks == [b"a", b"b", b"c", b"a", b"b", b"c"]  # round robin for one sender


def test_direct_fanout_and_exchange_isolation():
    table = _table("a", "b", "c")
    assert list(table.rpc_members("ex", "t", "b")) == [b"b"]
    assert table.fanout_members("ex", "t") == [b"a", b"b", b"c"]
    assert table.rpc_members("other", "t", "") is None
    assert table.rpc_members("ex", "t", "zzz") is None


def test_members_sorted_set():
    members = Members()
    for ident in (b"b", b"a", b"b", b"c"):
        members.add(ident)
    assert list(members) == [b"a", b"b", b"c"] and b"b" in members
    members.discard(b"b")
    members.discard(b"zz")
    assert list(members) == [b"a", b"c"] and b"b" not in members


def test_notification_pools_and_empty_pool_memory():
    table = RoutingTable()
    table.register(b"a1", [(wire.NOTIFY, "ex", "n.info", "")], 0.0)
    table.register(b"a2", [(wire.NOTIFY, "ex", "n.info", "")], 0.0)
    table.register(b"p1", [(wire.NOTIFY, "ex", "n.info", "pool1")], 0.0)
    pools = table.notify_pools("ex", "n.info")
    assert sorted(pools) == ["", "pool1"] and list(pools["pool1"]) == [b"p1"]
    assert table.listeners_by_label() == {"notify/ex/n.info": 3}
    table.unregister(b"p1", 1.0)
    assert table.empty_pools("ex", "n.info") == ["pool1"]
    table.expire(2.0, timeout=100.0, pool_memory=5.0)
    assert table.empty_pools("ex", "n.info") == ["pool1"]  # remembered for the hold TTL
    table.register(b"p2", [(wire.NOTIFY, "ex", "n.info", "pool1")], 3.0)
    assert table.empty_pools("ex", "n.info") == []  # back
    table.unregister(b"p2", 4.0)
    table.expire(10.0, timeout=100.0, pool_memory=5.0)
    assert table.empty_pools("ex", "n.info") == []  # forgotten after the TTL


def test_unregister_expire_reregister_and_stall():
    table = RoutingTable()
    assert table.register(b"a", [(wire.RPC, "ex", "t", "a")], 0.0) == [(wire.RPC, "ex", "t", "a")]
    assert table.register(b"a", [(wire.RPC, "ex", "t", "a")], 1.0) == []
    assert table.expire(3.0, 5.0, 60.0) == []
    table.touch_all(9.0)  # the proxy itself was frozen from 1.0 to 9.0
    assert table.expire(10.0, 5.0, 60.0) == []
    assert table.expire(15.0, 5.0, 60.0) == [b"a"]
    assert table.rpc_members("ex", "t", "") is None
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


def test_any_pool_hold_reaches_every_pool_once():
    store = HoldStore(max_messages=10, max_bytes=10_000)
    key = (wire.NOTIFY, "ex", "n.info", ANY_POOL)
    store.hold(key, Held(5.0, b"c", {"id": "1"}, b"x", 10, set()))
    assert [h.header["id"] for h in store.for_pool(key, "p1")] == ["1"]
    assert store.for_pool(key, "p1") == []
    assert [h.header["id"] for h in store.for_pool(key, "")] == ["1"]
    assert store.count == 1
    assert store.expire(6.0) == []  # it reached pools: not a drop
    assert store.count == 0
    store.hold(key, Held(5.0, b"c", {"id": "2"}, b"x", 10, set()))
    assert [h.header["id"] for _, h in store.expire(6.0)] == ["2"]  # reached nobody


def test_hold_keys_for_targets():
    assert hold_keys_for((wire.RPC, "ex", "t", "s")) == [
        (wire.RPC, "ex", "t", ""),
        (wire.RPC, "ex", "t", "s"),
    ]
    assert hold_keys_for((wire.NOTIFY, "ex", "n.info", "pool")) == [
        (wire.NOTIFY, "ex", "n.info", "pool")
    ]


def test_counters_are_bounded():
    counters = Counters(max_targets=2)
    for i in range(5):
        counters.inc("routed", "rpc/ex/t%d" % i)
    assert set(counters.targets) == {"rpc/ex/t0", "rpc/ex/t1", "_other"}
    assert counters.targets["_other"]["routed"] == 3
    assert counters.total["routed"] == 5


def test_drop_senders_removes_only_theirs():
    store = HoldStore(10, 10000)
    key = (wire.RPC, "ex", "t", "")
    store.hold(key, Held(5.0, b"gone", {"id": "1"}, b"x", 100))
    store.hold(key, Held(5.0, b"kept", {"id": "2"}, b"x", 100))
    store.hold((wire.RPC, "ex", "u", ""), Held(5.0, b"gone", {"id": "3"}, b"x", 100))
    dropped = store.drop_senders({b"gone"})
    assert sorted(h.header["id"] for _k, h in dropped) == ["1", "3"]
    assert store.count == 1 and store.bytes == 100
    assert [h.header["id"] for h in store.take(key)] == ["2"]


def test_answer_book_lets_only_the_delivering_listener_answer_its_sender():
    book = AnswerBook(3)
    book.delivered(b"lst", "m1", b"cli", 10.0)
    assert book.may_answer(b"lst", "m1", b"cli", 5.0)
    assert not book.may_answer(b"other", "m1", b"cli", 5.0)  # another listener
    assert not book.may_answer(b"lst", "m1", b"victim", 5.0)  # another destination
    assert not book.may_answer(b"lst", "m2", b"cli", 5.0)  # another message
    assert not book.may_answer(b"lst", "m1", b"cli", 10.0)  # expired
    book.extend(b"lst", "m1", 20.0)
    book.expire(15.0)
    assert book.may_answer(b"lst", "m1", b"cli", 15.0)
    book.answered(b"lst", "m1")
    assert not book.may_answer(b"lst", "m1", b"cli", 15.0)
    for i in range(5):  # bounded: the oldest go first
        book.delivered(b"lst", "n%d" % i, b"cli", 100.0)
    assert len(book) == 3
    assert not book.may_answer(b"lst", "n0", b"cli", 50.0)
    assert book.may_answer(b"lst", "n4", b"cli", 50.0)
    book.expire(200.0)
    assert len(book) == 0
