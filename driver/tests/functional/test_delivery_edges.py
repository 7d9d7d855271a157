"""Edges of delivery: notification pools that come and go, bounded retries, key
reloads, many open descriptors, a proxy host that does not resolve."""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid

import harness
import oslo_messaging
import pytest

from oslo_messaging_zmq import security


class Notified:
    def __init__(self):
        self.lock = threading.Lock()
        self.events = []

    def info(self, ctxt, publisher_id, event_type, payload, metadata):
        with self.lock:
            self.events.append(payload)


def _listener(transport, topic, pool):
    endpoint = Notified()
    listener = oslo_messaging.get_notification_listener(
        transport, [oslo_messaging.Target(topic=topic)], [endpoint], executor="threading", pool=pool
    )
    listener.start()
    return listener, endpoint


def _stop(*servers):
    for server in servers:
        server.stop()
        server.wait()


def _notifier(transport, topic):
    return oslo_messaging.Notifier(transport, "edge.host", driver="messagingv2", topics=[topic])


def test_absent_pool_gets_what_it_missed_once(url, transports):
    topic = "pools-" + uuid.uuid4().hex
    transport = transports(url, notification=True)
    steady, steady_ep = _listener(transport, topic, "steady")
    flaky, _flaky_ep = _listener(transports(url, notification=True), topic, "flaky")
    notifier = _notifier(transport, topic)
    try:
        time.sleep(0.5)
        _stop(flaky)  # pool "flaky" has no listener now
        for i in range(20):
            notifier.info({}, "ev", i)
        assert harness.wait_for(lambda: len(steady_ep.events) == 20)
        back, back_ep = _listener(transports(url, notification=True), topic, "flaky")
        assert harness.wait_for(lambda: len(back_ep.events) >= 20)
        time.sleep(1.0)  # duplicates would arrive here
        assert sorted(back_ep.events) == list(range(20))
        assert sorted(steady_ep.events) == list(range(20))
        _stop(back)
    finally:
        _stop(steady)


def test_notifications_before_any_listener_reach_each_pool_once(url, transports):
    topic = "early-" + uuid.uuid4().hex
    transport = transports(url, notification=True)
    notifier = _notifier(transport, topic)
    for i in range(10):
        notifier.info({}, "ev", i)
    first, first_ep = _listener(transports(url, notification=True), topic, "p1")
    second, second_ep = _listener(transports(url, notification=True), topic, "p2")
    try:
        assert harness.wait_for(lambda: len(first_ep.events) >= 10 and len(second_ep.events) >= 10)
        time.sleep(1.0)
        assert sorted(first_ep.events) == list(range(10))
        assert sorted(second_ep.events) == list(range(10))
    finally:
        _stop(first, second)


def test_bounded_retry_cast_raises_when_the_proxy_hangs(keys, tmp_path, transports):
    proxy = harness.ProxyProcess(keys, str(tmp_path)).start()
    try:
        url = harness.transport_url([proxy], keys, ack_timeout=0.5)
        topic = "retry-" + uuid.uuid4().hex
        client = oslo_messaging.get_rpc_client(transports(url), oslo_messaging.Target(topic=topic))
        client.prepare(retry=0).cast({}, "anything", value=1)  # held by the proxy: delivered
        proxy.proc.send_signal(signal.SIGSTOP)
        started = time.monotonic()
        with pytest.raises(oslo_messaging.MessageDeliveryFailure, match="could not be delivered"):
            client.prepare(retry=1).cast({}, "anything", value=2)
        assert time.monotonic() - started < 5
    finally:
        proxy.proc.send_signal(signal.SIGCONT)
        proxy.stop()


def test_sighup_reloads_allowed_keys(keys, tmp_path, transports):
    proxy = harness.ProxyProcess(keys, str(tmp_path)).start()
    try:
        topic = "hup-" + uuid.uuid4().hex
        url = harness.transport_url([proxy], keys)
        server = oslo_messaging.get_rpc_server(
            transports(url), oslo_messaging.Target(topic=topic, server="s"), [Echo()]
        )
        server.start()
        new_public, new_secret = security.write_key_pair(str(tmp_path), "newcomer")
        hosts = proxy.address
        new_url = "zmq://%s/?client_secret_key_file=%s&server_public_key_file=%s" % (
            hosts,
            new_secret,
            keys.server_public,
        )
        target = oslo_messaging.Target(topic=topic)
        short = new_url + "&connect_timeout=1"
        refused = oslo_messaging.get_rpc_client(transports(short), target, timeout=2)
        with pytest.raises(oslo_messaging.MessagingTimeout, match="authentication rejected"):
            refused.call({}, "echo", value=1)
        allowed_copy = os.path.join(keys.allowed_dir, "newcomer.key")
        with open(new_public) as src, open(allowed_copy, "w") as dst:
            dst.write(src.read())
        proxy.proc.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        admitted = oslo_messaging.get_rpc_client(
            transports(new_url), oslo_messaging.Target(topic=topic), timeout=10
        )
        assert admitted.call({}, "echo", value=2) == 2  # no proxy restart needed
        os.unlink(allowed_copy)
        proxy.proc.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        again = oslo_messaging.get_rpc_client(transports(short), target, timeout=2)
        with pytest.raises(oslo_messaging.MessagingTimeout, match="authentication rejected"):
            again.call({}, "echo", value=3)  # a new session with the removed key is refused
        _stop(server)
    finally:
        proxy.stop()
    with open(proxy.log_path) as handle:
        log = handle.read()
    assert "refused client" in log


class Echo:
    def echo(self, ctxt, value):
        return value


def test_descriptors_above_1024(url, transports):
    """Services with many open files: the I/O loop must not depend on select()."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 1200:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] >= 1200, "cannot raise RLIMIT_NOFILE"
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        topic = "fds-" + uuid.uuid4().hex
        server = oslo_messaging.get_rpc_server(
            transports(url), oslo_messaging.Target(topic=topic, server="s"), [Echo()]
        )
        server.start()
        client = oslo_messaging.get_rpc_client(
            transports(url), oslo_messaging.Target(topic=topic), timeout=10
        )
        started = time.monotonic()
        assert [client.call({}, "echo", value=i) for i in range(200)] == list(range(200))
        # a 10 ms poll fallback would need > 2 s for 200 round trips
        assert time.monotonic() - started < 2.0
        _stop(server)
    finally:
        for fd in held:
            os.close(fd)


@pytest.mark.parametrize("bad_host", ["no-such-proxy.invalid", "typo host"])
def test_broken_proxy_host_keeps_the_others(proxies, keys, transports, bad_host):
    """A host that does not resolve, or one libzmq refuses at connect() (a space)."""
    good = proxies[0].address
    url = "zmq://%s:9501,%s/?%s" % (bad_host, good, keys.client_query())
    topic = "dns-" + uuid.uuid4().hex
    transport = oslo_messaging.get_rpc_transport(harness.new_conf(), url=url)
    server = oslo_messaging.get_rpc_server(
        transport, oslo_messaging.Target(topic=topic, server="s"), [Echo()]
    )
    server.start()
    client = oslo_messaging.get_rpc_client(transport, oslo_messaging.Target(topic=topic), timeout=5)
    assert client.call({}, "echo", value="ok") == "ok"
    _stop(server)
    done = threading.Event()
    threading.Thread(target=lambda: (transport.cleanup(), done.set()), daemon=True).start()
    assert done.wait(15), "transport.cleanup() hung"
