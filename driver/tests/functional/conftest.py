"""Fixtures: real proxy processes on 127.0.0.1 and oslo.messaging transports."""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402


@pytest.fixture(scope="session")
def keys(tmp_path_factory):
    return harness.make_keys(str(tmp_path_factory.mktemp("keys")))


@pytest.fixture
def proxies(keys, tmp_path):
    """Two CURVE proxies (hold TTL 30 s)."""
    started = [harness.ProxyProcess(keys, str(tmp_path)).start() for _ in range(2)]
    yield started
    for proxy in started:
        proxy.stop()


@pytest.fixture
def url(proxies, keys):
    return harness.transport_url(proxies, keys)


@pytest.fixture
def transports():
    """Factory of RPC/notification transports, all cleaned up at the end."""
    made = []

    def _make(url, notification=False):
        conf = harness.new_conf()
        import oslo_messaging

        get = oslo_messaging.get_notification_transport if notification else None
        get = get or oslo_messaging.get_rpc_transport
        transport = get(conf, url=url)
        made.append(transport)
        return transport

    yield _make
    for transport in made:
        transport.cleanup()
