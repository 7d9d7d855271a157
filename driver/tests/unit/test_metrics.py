"""GET /metrics: the proxy's snapshot rendered by prometheus_client, parsed back by it."""

import gzip
import time

import pytest
from oslo_config import cfg
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_om
from prometheus_client.parser import text_string_to_metric_families

from oslo_messaging_zmq import metrics, options
from oslo_messaging_zmq.proxy import Proxy
from oslo_messaging_zmq.routing import Counters

P = metrics.PREFIX


def _proxy(**overrides) -> Proxy:
    conf = cfg.ConfigOpts()
    options.register_proxy(conf)
    conf([], project="test")
    conf.set_override("security_mode", "plain", group="zmq_proxy")
    for name, value in overrides.items():
        conf.set_override(name, value, group="zmq_proxy")
    return Proxy(conf.zmq_proxy)


@pytest.fixture
def snapshot():
    """A real snapshot: counters as the routing code counts them."""
    prx = _proxy()
    try:
        prx.counters.inc("routed", "rpc/nova/compute", 7)
        prx.counters.inc("held", "rpc/nova/compute")
        prx.counters.inc("dropped", "notify/nova/notifications.info", 2)
        prx.counters.inc("auth_denied", n=3)
        prx.maintenance()
        yield prx.snapshot
    finally:
        prx.close()


def _families(text: str) -> dict:
    return {f.name: f for f in text_string_to_metric_families(text)}


def _value(family, **labels) -> float:
    (value,) = [s.value for s in family.samples if s.labels == labels]
    return value


def test_families_types_and_values(snapshot):
    body, headers = metrics.Exporter(lambda: snapshot).render()
    assert headers == {"Content-Type": "text/plain; version=0.0.4; charset=utf-8"}
    fams = _families(body.decode())
    for name in Counters.GLOBAL:
        assert fams[P + name].type == "counter", name
        assert fams[P + name].documentation == metrics.COUNTER_HELP[name]
    assert _value(fams[P + "routed"], target="rpc/nova/compute") == 7
    assert _value(fams[P + "held"], target="rpc/nova/compute") == 1
    assert _value(fams[P + "dropped"], target="notify/nova/notifications.info") == 2
    assert _value(fams[P + "auth_denied"]) == 3
    assert _value(fams[P + "malformed"]) == 0
    for name in Counters.PER_TARGET:  # per target only: their sum is the total
        assert all(set(s.labels) == {"target"} for s in fams[P + name].samples)
    gauges = ("held_messages", "held_bytes", "peers", "target_listeners", "uptime_seconds")
    gauges += ("resident_memory_bytes", "start_time_seconds", "last_refresh_timestamp_seconds")
    for name in gauges:
        assert fams[P + name].type == "gauge", name
    assert _value(fams[P + "peers"], role="listener") == 0
    assert _value(fams[P + "target_listeners"], target="rpc/nova/compute") == 0
    assert _value(fams[P + "resident_memory_bytes"]) == snapshot["rss_bytes"] > 0
    (info,) = fams[P + "info"].samples
    assert info.value == 1
    assert info.labels["security_mode"] == "plain" and info.labels["version"]


def test_openmetrics_and_gzip_when_asked(snapshot):
    accept = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"
    body, headers = metrics.Exporter(lambda: snapshot).render(accept, "gzip, deflate")
    assert headers["Content-Type"].startswith("application/openmetrics-text")
    assert headers["Content-Encoding"] == "gzip"
    fams = {f.name: f for f in parse_om(gzip.decompress(body).decode())}
    assert fams[P + "routed"].type == "counter"
    assert fams[P.rstrip("_")].type == "info"


def test_no_snapshot_yet_renders_nothing():
    assert metrics.Exporter(dict).render()[0] == b""


def test_listener_labels_bounded_like_the_counters():
    prx = _proxy(max_tracked_targets=10)
    try:
        for i in range(15):
            prx.counters.inc("routed", "rpc/ex/counted-%d" % i)
        for i in range(5):
            target = ("rpc", "ex", "listened-%d" % i, "")
            prx.table.register(b"peer%d" % i, [target], time.monotonic())
        prx.maintenance()
        targets = prx.snapshot["targets"]
    finally:
        prx.close()
    assert len(targets) == 11
    overflow = dict.fromkeys(Counters.PER_TARGET, 0)
    overflow.update(routed=5, listeners=5)
    assert targets[Counters.OVERFLOW] == overflow
