"""Messages for a target without listener are held (bounded, TTL) and counted."""

from __future__ import annotations

import time
import uuid

import harness
import oslo_messaging


class Endpoint:
    def __init__(self):
        self.got = []

    def record(self, ctxt, value):
        self.got.append(value)


def test_held_until_listener_then_ttl_drop(keys, tmp_path, transports):
    proxy = harness.ProxyProcess(keys, str(tmp_path), hold_ttl=2).start()
    try:
        url = harness.transport_url([proxy], keys)
        topic = "hold-" + uuid.uuid4().hex
        client = oslo_messaging.get_rpc_client(transports(url), oslo_messaging.Target(topic=topic))
        for i in range(5):
            client.cast({}, "record", value=i)  # nobody listens yet
        time.sleep(0.5)
        label = "rpc/openstack/" + topic
        metrics = proxy.metrics()
        assert metrics["targets"][label]["held"] == 5
        assert metrics["held_now"]["messages"] == 5

        endpoint = Endpoint()
        server = oslo_messaging.get_rpc_server(
            transports(url),
            oslo_messaging.Target(topic=topic, server="late"),
            [endpoint],
            executor="threading",
        )
        server.start()
        deadline = time.monotonic() + 10
        while len(endpoint.got) < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sorted(endpoint.got) == list(range(5))
        server.stop()
        server.wait()

        # no listener any more: held for hold_ttl, then dropped and counted
        orphan = "orphan-" + uuid.uuid4().hex
        oslo_messaging.get_rpc_client(transports(url), oslo_messaging.Target(topic=orphan)).cast(
            {}, "record", value="lost"
        )
        time.sleep(3.5)
        metrics = proxy.metrics()
        assert metrics["held_now"]["messages"] == 0
        assert metrics["counters"]["delivered_from_hold"] == 5
        assert metrics["counters"]["expired"] == 1
        assert metrics["targets"]["rpc/openstack/" + orphan]["dropped"] == 1
        assert metrics["targets"][label]["routed"] >= 5
    finally:
        proxy.stop()
    with open(proxy.log_path) as handle:
        log = handle.read()
    assert "no listener within TTL" in log and orphan in log
    assert "lost" not in log.replace("lost connection", "")  # bodies are never logged
