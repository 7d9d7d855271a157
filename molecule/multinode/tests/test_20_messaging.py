"""RPC calls, casts, fanouts and notifications between the service hosts, through the proxies."""

from __future__ import annotations

import json
import time

import pytest
from conftest import (
    DELIVERY_TIMEOUT,
    HEALTH_URL,
    NOTIFY_LOG,
    NOTIFY_TOPIC,
    PROXIES,
    RPC_LOG,
    RPC_TOPIC,
    SERVICES,
    lines_with,
    proxy_counters,
    routed,
    token,
    wait_for,
)

# After a message showed up, wait this long for a duplicate before counting.
SETTLE = 3
# Bound of the wait for the proxies' metrics snapshots to show what went through.
SNAPSHOT_TIMEOUT = 5


def _other(name: str) -> str:
    return SERVICES[1] if name == SERVICES[0] else SERVICES[0]


@pytest.mark.parametrize("caller", SERVICES)
def test_call_is_answered_by_the_other_host(ready, caller):
    server = _other(caller)
    value = token("echo")
    result = ready[caller].call(server, "echo", value=value)
    assert result["ok"], result
    assert result["result"] == {"value": value, "host": server}
    assert result["error"] is None
    assert result["latency_ms"] > 0
    assert result["transport"].startswith("zmq://")


@pytest.mark.parametrize("caller", SERVICES)
def test_ping_endpoint_answers_pong(ready, caller):
    result = ready[caller].call(_other(caller), "oslo_rpc_server_ping")
    assert result["ok"], result
    assert result["result"] == "pong"


def test_call_to_an_unknown_method_fails_remotely(ready):
    result = ready["zmq-svc1"].call("zmq-svc2", "no_such_method")
    assert not result["ok"]
    assert result["error"] == "NoSuchMethod", result


def test_cast_lands_once_on_the_named_server(ready):
    tok = token("cast")
    result = ready["zmq-svc1"].ping(
        kind="cast", topic=RPC_TOPIC, server="zmq-svc2", method="record", args={"token": tok}
    )
    assert result["ok"], result
    svc2 = ready["zmq-svc2"]
    wait_for("cast on zmq-svc2", lambda: lines_with(svc2.read(RPC_LOG), tok), DELIVERY_TIMEOUT)
    time.sleep(SETTLE)
    on_svc2 = lines_with(svc2.read(RPC_LOG), tok)
    assert [line["host"] for line in on_svc2] == ["zmq-svc2"]
    assert lines_with(ready["zmq-svc1"].read(RPC_LOG), tok) == []


def test_fanout_reaches_every_server_once(ready):
    tok = token("fanout")
    result = ready["zmq-svc1"].ping(
        kind="fanout", topic=RPC_TOPIC, method="record", args={"token": tok}
    )
    assert result["ok"], result

    def everywhere():
        return all(lines_with(ready[name].read(RPC_LOG), tok) for name in SERVICES)

    wait_for("fanout on both servers", everywhere, DELIVERY_TIMEOUT)
    time.sleep(SETTLE)
    for name in SERVICES:
        assert len(lines_with(ready[name].read(RPC_LOG), tok)) == 1, name


@pytest.mark.parametrize("priority", ["info", "error"])
def test_notification_is_consumed_exactly_once(ready, priority):
    """Listeners of one topic share its notifications (no pool): one of them gets each."""
    tok = token("notify")
    result = ready["zmq-svc2"].ping(
        kind="notify",
        topic=NOTIFY_TOPIC,
        notify_priority=priority,
        event_type="testsvc.probe",
        publisher_id="molecule.multinode",
        args={"token": tok},
    )
    assert result["ok"], result

    def seen():
        return [r for name in SERVICES for r in lines_with(ready[name].read(NOTIFY_LOG), tok)]

    wait_for("notification consumed", seen, DELIVERY_TIMEOUT)
    time.sleep(SETTLE)
    records = seen()
    assert len(records) == 1, records
    record = records[0]
    assert record["priority"] == priority
    assert record["event_type"] == "testsvc.probe"
    assert record["publisher_id"] == "molecule.multinode"
    assert record["payload"] == {"token": tok}


def test_proxy_metrics_count_the_calls(ready):
    before = [proxy_counters(ready[name]) for name in PROXIES]
    result = ready["zmq-svc2"].ping(
        kind="call", topic=RPC_TOPIC, server="zmq-svc1", method="echo", args={"value": 1}, count=5
    )
    assert result["ok"], result
    assert result["succeeded"] == 5

    # /stats is a snapshot the proxy refreshes every 0.25 s: the last calls may be in the
    # next one.
    def counted():
        after = [proxy_counters(ready[name]) for name in PROXIES]
        pairs = list(zip(after, before, strict=True))
        to_testsvc = sum(routed(a, RPC_TOPIC) - routed(b, RPC_TOPIC) for a, b in pairs)
        replies = sum(a["counters"]["replies"] - b["counters"]["replies"] for a, b in pairs)
        return after if to_testsvc >= 5 and replies >= 5 else None

    after = wait_for("5 calls and 5 replies counted at the proxies", counted, SNAPSHOT_TIMEOUT)
    for metrics in after:
        assert metrics["counters"]["auth_allowed"] > 0
        assert metrics["counters"]["malformed"] == 0
        # zmq_proxy_core auto: the role installed the build packages, the core was built
        assert metrics["core"] == "native", metrics
    # the replies of a registered listener to a bound caller take the native core's path
    native = sum(
        a["counters"]["native_handled"] - b["counters"]["native_handled"]
        for a, b in zip(after, before, strict=True)
    )
    assert native >= 5, (before, after)


# Read on the proxy host with the proxy's own virtualenv, which has prometheus_client (the
# driver's proxy extra): GET /metrics parsed by the client library's own parser.
PROMETHEUS_READ = """
import json, sys, urllib.request
from prometheus_client.parser import text_string_to_metric_families
text = urllib.request.urlopen(sys.argv[1], timeout=5).read().decode()
families = {f.name: f for f in text_string_to_metric_families(text)}
routed = families["oslo_messaging_zmq_proxy_routed"]
info = families["oslo_messaging_zmq_proxy_info"]
print(json.dumps({
    "types": {name: f.type for name, f in families.items()},
    "routed": sum(s.value for s in routed.samples if s.name.endswith("_total")),
    "security_mode": info.samples[0].labels["security_mode"],
}))
"""


def test_proxies_serve_prometheus_metrics(ready):
    routed_at_all = 0
    for name in PROXIES:
        node = ready[name]
        # Counters only grow: what /stats showed before the scrape, the scrape shows at least.
        routed_before = sum(e.get("routed", 0) for e in proxy_counters(node)["targets"].values())
        out = node.check_output(
            "/opt/zeromq/proxy-venv/bin/python -c %s %s", PROMETHEUS_READ, HEALTH_URL + "/metrics"
        )
        scraped = json.loads(out)
        assert scraped["security_mode"] == "curve", (name, scraped)
        assert scraped["types"]["oslo_messaging_zmq_proxy_routed"] == "counter"
        assert scraped["types"]["oslo_messaging_zmq_proxy_held_messages"] == "gauge"
        assert scraped["routed"] >= routed_before, (name, routed_before, scraped)
        routed_at_all += scraped["routed"]
    # The earlier tests' calls went through one proxy or the other.
    assert routed_at_all > 0
