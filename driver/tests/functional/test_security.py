"""CURVE: unknown keys get nothing through, plain clients fail clearly, others keep working."""

from __future__ import annotations

import time
import uuid

import harness
import oslo_messaging
import pytest

from oslo_messaging_zmq import security
from oslo_messaging_zmq.driver import ZmqConfigError


class Endpoint:
    def __init__(self):
        self.seen = []

    def echo(self, ctxt, value):
        self.seen.append(value)
        return value


def _echo_server(transport, topic: str, endpoint: Endpoint):
    server = oslo_messaging.get_rpc_server(
        transport, oslo_messaging.Target(topic=topic, server="s"), [endpoint], executor="threading"
    )
    server.start()
    return server


def _url_with_keys(proxies, client_secret, server_public, **query):
    hosts = ",".join(p.address for p in proxies)
    params = [
        "client_secret_key_file=%s" % client_secret,
        "server_public_key_file=%s" % server_public,
    ]
    params += ["%s=%s" % item for item in query.items()]
    return "zmq://%s/?%s" % (hosts, "&".join(params))


def test_unknown_key_gets_nothing_through(proxies, keys, url, transports, tmp_path):
    topic = "sec-" + uuid.uuid4().hex
    endpoint = Endpoint()
    server = _echo_server(transports(url), topic, endpoint)
    try:
        good = oslo_messaging.get_rpc_client(
            transports(url), oslo_messaging.Target(topic=topic), timeout=10
        )
        assert good.call({}, "echo", value="before") == "before"

        _, stranger_secret = security.write_key_pair(str(tmp_path), "stranger")
        bad_url = _url_with_keys(proxies, stranger_secret, keys.server_public, connect_timeout=2)
        bad_transport = transports(bad_url)
        bad = oslo_messaging.get_rpc_client(
            bad_transport, oslo_messaging.Target(topic=topic), timeout=3
        )
        with pytest.raises(oslo_messaging.MessagingTimeout, match="authentication rejected"):
            bad.call({}, "echo", value="intruder-call")
        with pytest.raises(oslo_messaging.MessageDeliveryFailure, match="authentication"):
            bad.cast({}, "echo", value="intruder-cast")

        # an unknown listener cannot register: messages for its topic are not routed to it
        rogue_topic = "rogue-" + uuid.uuid4().hex
        rogue_endpoint = Endpoint()
        rogue = oslo_messaging.get_rpc_server(
            transports(bad_url),
            oslo_messaging.Target(topic=rogue_topic, server="r"),
            [rogue_endpoint],
            executor="threading",
        )
        rogue.start()
        time.sleep(1.5)
        probe = oslo_messaging.get_rpc_client(
            transports(url), oslo_messaging.Target(topic=rogue_topic), timeout=1
        )
        with pytest.raises(oslo_messaging.MessagingTimeout):
            probe.call({}, "echo", value="for-rogue")
        rogue.stop()
        rogue.wait()

        # the proxies kept serving the known client throughout
        assert [good.call({}, "echo", value=i) for i in range(20)] == list(range(20))
        assert "intruder-call" not in endpoint.seen
        assert "intruder-cast" not in endpoint.seen
        assert rogue_endpoint.seen == []
        metrics = [p.metrics() for p in proxies]
        assert sum(m["counters"]["auth_denied"] for m in metrics) > 0
        assert all(m["security_mode"] == "curve" for m in metrics)
        label = "rpc/openstack/" + rogue_topic
        assert all(m["targets"].get(label, {}).get("listeners", 0) == 0 for m in metrics)
    finally:
        server.stop()
        server.wait()


def test_plain_client_against_curve_proxy_fails_clearly(proxies, transports):
    hosts = ",".join(p.address for p in proxies)
    plain_url = "zmq://%s/?security_mode=plain&connect_timeout=2" % hosts
    client = oslo_messaging.get_rpc_client(
        transports(plain_url), oslo_messaging.Target(topic="whatever"), timeout=3
    )
    with pytest.raises(oslo_messaging.MessageDeliveryFailure) as info:
        client.cast({}, "echo", value=1)
    text = str(info.value)
    assert "no zmq proxy reachable" in text
    assert "security" in text  # names the handshake/security_mode mismatch
    for proxy in proxies:
        assert proxy.address in text


def test_curve_without_keys_is_a_configuration_error(proxies):
    hosts = ",".join(p.address for p in proxies)
    with pytest.raises(ZmqConfigError, match="security_mode=plain"):
        oslo_messaging.get_rpc_transport(harness.new_conf(), url="zmq://%s/" % hosts)


def test_refused_client_gets_in_once_its_key_is_allowed(tmp_path, transports):
    """libzmq gives up on a socket whose CURVE handshake was refused; the driver must not.

    A deployment may start a service a moment before the proxies have read its new key
    (the multinode scenario did): the same transport, never restarted, must get through
    as soon as the proxies admit the key.
    """
    keys = harness.make_keys(str(tmp_path / "keys"))
    proxies = [harness.ProxyProcess(keys, str(tmp_path)).start() for _ in range(2)]
    try:
        topic = "late-" + uuid.uuid4().hex
        endpoint = Endpoint()
        url = harness.transport_url(proxies, keys)
        server = _echo_server(transports(url), topic, endpoint)
        late_public, late_secret = security.write_key_pair(keys.directory, "late")
        late_url = _url_with_keys(proxies, late_secret, keys.server_public, connect_timeout=2)
        late = oslo_messaging.get_rpc_client(
            transports(late_url), oslo_messaging.Target(topic=topic), timeout=2
        )
        with pytest.raises(oslo_messaging.MessagingTimeout, match="authentication rejected"):
            late.call({}, "echo", value="refused")

        with open(late_public) as src, open(keys.allowed_dir + "/late.key", "w") as dst:
            dst.write(src.read())
        answers = []

        def answered() -> bool:
            try:
                answers.append(late.call({}, "echo", value="admitted"))
            except oslo_messaging.MessagingTimeout:
                return False
            return True

        assert harness.wait_for(answered, timeout=30, interval=0.5), "never admitted"
        assert answers == ["admitted"]
        assert endpoint.seen.count("admitted") == 1
        assert "refused" not in endpoint.seen
        server.stop()
        server.wait()
    finally:
        for proxy in proxies:
            proxy.stop()
