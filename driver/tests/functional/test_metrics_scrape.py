"""A real proxy's GET /metrics, scraped and parsed by prometheus_client, counts real traffic."""

from __future__ import annotations

import sys
import time
import uuid

import harness
import oslo_messaging
from prometheus_client.parser import text_string_to_metric_families

P = "oslo_messaging_zmq_proxy_"
CALLS, CASTS = 3, 2


class Echo:
    def echo(self, ctxt, value):
        return value


def _families(proxy: harness.ProxyProcess) -> dict:
    status, content_type, text = proxy.scrape()
    assert status == 200
    assert content_type == "text/plain; version=0.0.4; charset=utf-8"
    return {f.name: f for f in text_string_to_metric_families(text)}


def _sample(families: dict, name: str, **labels) -> float | None:
    """The value of family P+name (a counter's without _total) with exactly these labels."""
    family = families.get(P + name)
    values = [s.value for s in family.samples if s.labels == labels] if family else []
    return values[0] if values else None


def test_metrics_count_calls_casts_and_held(keys, tmp_path, transports):
    proxy = harness.ProxyProcess(keys, str(tmp_path)).start()
    try:
        url = harness.transport_url([proxy], keys)
        topic = "prom-" + uuid.uuid4().hex
        label = "rpc/openstack/" + topic
        target = oslo_messaging.Target(topic=topic, server="s1")
        server = oslo_messaging.get_rpc_server(
            transports(url), target, [Echo()], executor="threading"
        )
        server.start()
        client = oslo_messaging.get_rpc_client(
            transports(url), oslo_messaging.Target(topic=topic), timeout=10
        )
        assert [client.call({}, "echo", value=i) for i in range(CALLS)] == list(range(CALLS))
        for i in range(CASTS):
            client.cast({}, "echo", value=i)
        orphan = "rpc/openstack/orphan-" + topic
        oslo_messaging.get_rpc_client(
            transports(url), oslo_messaging.Target(topic="orphan-" + topic)
        ).cast({}, "echo", value=0)

        # the snapshot behind /metrics is refreshed every 0.25 s
        def counted():
            fams = _families(proxy)
            routed = _sample(fams, "routed", target=label)
            held = _sample(fams, "held", target=orphan)
            return fams if (routed, held) == (CALLS + CASTS, 1) else None

        assert harness.wait_for(counted, timeout=10), _families(proxy)
        fams = counted()
        types = {name[len(P) :]: f.type for name, f in fams.items()}
        for name in ("routed", "held", "dropped", "received", "replies", "auth_allowed"):
            assert types[name] == "counter", name
            assert {s.name for s in fams[P + name].samples} == {P + name + "_total"}
        for name in ("held_messages", "peers", "target_listeners", "resident_memory_bytes"):
            assert types[name] == "gauge", name
        assert _sample(fams, "replies") >= CALLS
        assert _sample(fams, "auth_allowed") > 0
        assert _sample(fams, "auth_denied") == 0
        assert _sample(fams, "held_messages") == 1
        assert _sample(fams, "target_listeners", target=label) == 1
        assert _sample(fams, "peers", role="listener") >= 1
        assert _sample(fams, "resident_memory_bytes") > 10 * 2**20
        assert abs(_sample(fams, "last_refresh_timestamp_seconds") - time.time()) < 5
        (info,) = fams[P + "info"].samples
        assert info.labels["security_mode"] == "curve"
        assert info.labels["endpoint"] == "tcp://" + proxy.address

        # the same snapshot as JSON, for the smoke role and the other tests
        stats = proxy.metrics()
        assert stats["targets"][label]["routed"] == CALLS + CASTS
        assert stats["targets"][orphan]["held"] == 1
        assert not [key for key in stats if key.startswith("_")]
        server.stop()
        server.wait()
    finally:
        proxy.stop()


class ProxyWithoutClient(harness.ProxyProcess):
    """The proxy in an interpreter where prometheus_client cannot be imported."""

    def command(self, conf: str) -> list[str]:
        code = (
            "import sys; sys.modules['prometheus_client'] = None; "
            "from oslo_messaging_zmq.proxy import main; sys.exit(main(sys.argv[1:]))"
        )
        return [sys.executable, "-c", code, "--config-file", conf]


def test_without_prometheus_client_metrics_answers_503(tmp_path):
    proxy = ProxyWithoutClient(None, str(tmp_path)).start()
    try:
        status, content_type, text = proxy.scrape()
        assert status == 503 and content_type.startswith("text/plain")
        assert "prometheus_client is not installed" in text and "[proxy]" in text
        assert proxy.health()[0] == 200
        assert proxy.metrics()["security_mode"] == "plain"
    finally:
        proxy.stop()
    with open(proxy.log_path) as handle:
        assert "GET /metrics answers 503" in handle.read()
