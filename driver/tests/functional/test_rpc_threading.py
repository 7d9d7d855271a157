"""RPC and notifications with the threading executor, including call monitoring.

oslo.messaging's functional suite runs under eventlet and skips call-monitor
tests for non-rabbit URLs; these cover that with plain threads.
"""

from __future__ import annotations

import queue
import threading
import time
import uuid

import harness
import oslo_messaging
import pytest


class Endpoint:
    def __init__(self, name: str = "") -> None:
        self.name = name
        self.casts: list = []
        self.lock = threading.Lock()

    def echo(self, ctxt, value):
        return value

    def whoami(self, ctxt):
        return self.name

    def record(self, ctxt, value):
        with self.lock:
            self.casts.append(value)

    def delay(self, ctxt, seconds):
        time.sleep(seconds)
        return seconds

    def fail(self, ctxt):
        raise ValueError("remote failure")


def _server(transport, topic, server, endpoint, executor="threading", exchange=None):
    target = oslo_messaging.Target(topic=topic, server=server, exchange=exchange)
    rpc = oslo_messaging.get_rpc_server(transport, target, [endpoint], executor=executor)
    rpc.start()
    return rpc


def _stop(*servers):
    for rpc in servers:
        rpc.stop()
        rpc.wait()


def test_call_cast_fanout_round_robin(url, transports):
    topic = "t-" + uuid.uuid4().hex
    endpoints = [Endpoint("s%d" % i) for i in range(3)]
    servers = [_server(transports(url), topic, e.name, e) for e in endpoints]
    try:
        client = oslo_messaging.get_rpc_client(
            transports(url), oslo_messaging.Target(topic=topic), timeout=10
        )
        assert client.call({}, "echo", value={"a": [1, 2]}) == {"a": [1, 2]}
        seen = [client.call({}, "whoami") for _ in range(9)]
        assert sorted(seen) == sorted(["s0", "s1", "s2"] * 3)  # exact round robin
        direct = client.prepare(server="s1")
        assert {direct.call({}, "whoami") for _ in range(5)} == {"s1"}
        with pytest.raises(ValueError, match="remote failure"):
            client.call({}, "fail")
        client.prepare(fanout=True).cast({}, "record", value="all")
        for i in range(30):
            client.cast({}, "record", value=i)
        assert harness.wait_for(lambda: sum(len(e.casts) for e in endpoints) == 33)
        for endpoint in endpoints:
            assert endpoint.casts.count("all") == 1
        received = sorted(v for e in endpoints for v in e.casts if v != "all")
        assert received == list(range(30))
    finally:
        _stop(*servers)


def test_exchange_isolation_and_timeout(url, transports):
    topic = "t-" + uuid.uuid4().hex
    ep_a, ep_b = Endpoint("a"), Endpoint("b")
    servers = [
        _server(transports(url), topic, "a", ep_a, exchange="xa"),
        _server(transports(url), topic, "b", ep_b, exchange="xb"),
    ]
    try:
        transport = transports(url)
        for exchange, name in (("xa", "a"), ("xb", "b")):
            target = oslo_messaging.Target(topic=topic, exchange=exchange)
            client = oslo_messaging.get_rpc_client(transport, target, timeout=10)
            assert {client.call({}, "whoami") for _ in range(4)} == {name}
        nobody = oslo_messaging.get_rpc_client(
            transport, oslo_messaging.Target(topic=topic, exchange="xc"), timeout=1
        )
        started = time.monotonic()
        with pytest.raises(oslo_messaging.MessagingTimeout):
            nobody.call({}, "whoami")
        assert time.monotonic() - started < 3
    finally:
        _stop(*servers)


def test_long_call_completes_with_call_monitor(url, transports):
    topic = "t-" + uuid.uuid4().hex
    server = _server(transports(url), topic, "s", Endpoint("s"))
    try:
        transport = transports(url)
        target = oslo_messaging.Target(topic=topic)
        plain = oslo_messaging.get_rpc_client(transport, target, timeout=1)
        with pytest.raises(oslo_messaging.MessagingTimeout):
            plain.call({}, "delay", seconds=3)
        # a long overall timeout and a short monitor timeout (oslo.messaging's
        # dispatcher needs >= 2 s: it heartbeats every timeout/2 >= 1 s): only
        # the server's heartbeats keep this call alive past 2 s
        monitored = oslo_messaging.get_rpc_client(
            transport, target, timeout=3600, call_monitor_timeout=2
        )
        started = time.monotonic()
        assert monitored.call({}, "delay", seconds=5) == 5
        assert 4.9 < time.monotonic() - started < 12
    finally:
        _stop(server)


def test_server_killed_mid_call_is_detected_quickly(url, transports):
    topic = "t-" + uuid.uuid4().hex
    peer = harness.start_peer(url, topic, "doomed")
    try:
        client = oslo_messaging.get_rpc_client(
            transports(url),
            oslo_messaging.Target(topic=topic),
            timeout=3600,
            call_monitor_timeout=2,
        )
        assert client.call({}, "echo", value=1) == 1
        results: queue.Queue = queue.Queue()

        def _call():
            started = time.monotonic()
            try:
                client.call({}, "delay", seconds=60)
                results.put(("returned", time.monotonic() - started))
            except oslo_messaging.MessagingTimeout:
                results.put(("timeout", time.monotonic() - started))

        thread = threading.Thread(target=_call, daemon=True)
        thread.start()
        time.sleep(1.5)
        peer.kill()
        peer.wait(10)
        outcome, elapsed = results.get(timeout=15)
        assert outcome == "timeout"
        # killed at ~1.5 s, monitor timeout 2 s: detected well before 60 s
        assert elapsed < 6
    finally:
        if peer.poll() is None:
            peer.kill()


def test_notifications_pools_priorities_and_batches(url, transports):
    topic = "n-" + uuid.uuid4().hex
    got: dict[str, queue.Queue] = {"p1": queue.Queue(), "p2": queue.Queue(), "batch": queue.Queue()}

    class Handler:
        def __init__(self, name):
            self.name = name

        def info(self, ctxt, publisher_id, event_type, payload, metadata):
            got[self.name].put(("info", event_type, payload))

        def error(self, ctxt, publisher_id, event_type, payload, metadata):
            got[self.name].put(("error", event_type, payload))

    class BatchHandler:
        def info(self, messages):
            got["batch"].put(len(messages))

    targets = [oslo_messaging.Target(topic=topic)]
    listeners = []
    for pool in ("p1", "p2"):
        listener = oslo_messaging.get_notification_listener(
            transports(url, notification=True),
            targets,
            [Handler(pool)],
            executor="threading",
            pool=pool,
        )
        listener.start()
        listeners.append(listener)
    batch_topic = topic + "-batch"
    batch = oslo_messaging.get_batch_notification_listener(
        transports(url, notification=True),
        [oslo_messaging.Target(topic=batch_topic)],
        [BatchHandler()],
        executor="threading",
        batch_size=10,
        batch_timeout=1,
    )
    batch.start()
    listeners.append(batch)
    try:
        transport = transports(url, notification=True)
        notifier = oslo_messaging.Notifier(
            transport, "test.host", driver="messagingv2", topics=[topic]
        )
        notifier.info({}, "ev.info", {"n": 1})
        notifier.error({}, "ev.error", {"n": 2})
        for pool in ("p1", "p2"):  # one copy per pool
            events = sorted([got[pool].get(timeout=10), got[pool].get(timeout=10)])
            assert events == [("error", "ev.error", {"n": 2}), ("info", "ev.info", {"n": 1})]
            with pytest.raises(queue.Empty):
                got[pool].get(timeout=0.5)
        batcher = oslo_messaging.Notifier(
            transport, "test.host", driver="messaging", topics=[batch_topic]
        )
        for i in range(25):
            batcher.info({}, "ev", {"i": i})
        sizes = [got["batch"].get(timeout=10) for _ in range(3)]
        assert sizes == [10, 10, 5]
    finally:
        _stop(*listeners)


def test_batch_listener_widens_a_smaller_sender_window(url, transports):
    """A batching listener acknowledges a batch after processing it, so a sender
    window below its batch_size would cut every batch at batch_timeout; its ACKs
    carry the batch size and the sender lets that many more be in flight."""
    topic = "nb-" + uuid.uuid4().hex
    sizes: queue.Queue = queue.Queue()

    class BatchHandler:
        def info(self, messages):
            sizes.put(len(messages))

    listener = oslo_messaging.get_batch_notification_listener(
        transports(url, notification=True),
        [oslo_messaging.Target(topic=topic)],
        [BatchHandler()],
        executor="threading",
        batch_size=100,
        batch_timeout=3,
    )
    listener.start()
    try:
        notifier = oslo_messaging.Notifier(
            transports(url + "&max_inflight=20", notification=True),
            "test.host",
            driver="messaging",
            topics=[topic],
        )
        for i in range(205):
            notifier.info({}, "ev", {"i": i})
        # full batches: a window of 20 would cut each at batch_timeout, at 20
        assert [sizes.get(timeout=20), sizes.get(timeout=20), sizes.get(timeout=20)] == [
            100,
            100,
            5,
        ]
    finally:
        _stop(listener)


def test_cast_backpressure_bounds_the_backlog(url, transports):
    """Slow servers: a cast is acknowledged when a worker takes it, so the sender's
    in-flight window blocks casts instead of queueing without bound; the listener's
    "waiting" reports stop re-sends (short ack_timeout) while casts queue there."""
    workers = 64  # oslo.messaging's default executor_thread_pool_size
    topic = "bp-" + uuid.uuid4().hex
    servers, endpoints = [], []
    for name in ("slow1", "slow2"):
        serial = threading.Lock()

        class Slow(Endpoint):
            def record(self, ctxt, value, _serial=serial):
                with _serial:  # one at a time, whatever the executor's pool size
                    time.sleep(0.01)
                super().record(ctxt, value)

        endpoint = Slow(name)
        endpoints.append(endpoint)
        servers.append(_server(transports(url), topic, name, endpoint))
    try:
        window = 50
        client = oslo_messaging.get_rpc_client(
            transports(url + "&max_inflight=%d&ack_timeout=0.5" % window),
            oslo_messaging.Target(topic=topic),
        )
        total = 2 * workers + window + 300
        started = time.monotonic()
        for i in range(total):
            client.cast({}, "record", value=i)
        elapsed = time.monotonic() - started
        # at most the 2 x 64 workers' casts + window casts can be outstanding:
        # the other >= 300 waited for the servers (2 x 100/s) in cast()
        assert elapsed > 1.0, elapsed
        assert harness.wait_for(lambda: sum(len(e.casts) for e in endpoints) >= total, timeout=60)
        time.sleep(1.0)
        received = sorted(v for e in endpoints for v in e.casts)
        assert received == list(range(total))  # each exactly once
    finally:
        _stop(*servers)


def test_retry_semantics_without_proxy(transports):
    port = harness.free_port()  # nothing listens there
    base = "zmq://127.0.0.1:%d/?security_mode=plain&connect_timeout=1.5" % port
    client = oslo_messaging.get_rpc_client(
        transports(base), oslo_messaging.Target(topic="t"), timeout=1
    )
    for retry in (0, 2, None):
        started = time.monotonic()
        with pytest.raises(oslo_messaging.MessageDeliveryFailure, match="no zmq proxy"):
            client.prepare(retry=retry).cast({}, "record", value=1)
        assert time.monotonic() - started < 4
    started = time.monotonic()
    with pytest.raises(oslo_messaging.MessagingTimeout):
        client.call({}, "echo", value=1)
    assert time.monotonic() - started < 3


def test_at_least_once_call_to_nobody_is_undeliverable(url, transports):
    transport = transports(url)
    target = oslo_messaging.Target(topic="nobody-" + uuid.uuid4().hex)
    mandatory = oslo_messaging.get_rpc_client(
        transport,
        target,
        timeout=60,
        transport_options=oslo_messaging.TransportOptions(at_least_once=True),
    )
    started = time.monotonic()
    with pytest.raises(oslo_messaging.MessageUndeliverable):
        mandatory.call({}, "echo", value=1)
    assert time.monotonic() - started < 5
    plain = oslo_messaging.get_rpc_client(transport, target, timeout=1)
    with pytest.raises(oslo_messaging.MessagingTimeout):
        plain.call({}, "echo", value=1)
