"""ProxyLinks heartbeat: a link that carried messages both ways skips its ping."""

from __future__ import annotations

import time

from oslo_messaging_zmq import links


class _Loop:
    def __init__(self):
        self.later = []
        self.last_stall = (-1e9, 0.0)

    def call_later(self, delay, fn, *args):
        self.later.append((delay, fn))


def _links(count=2):
    settings = links.LinkSettings(heartbeat_interval=1.0)
    sec = links.SecurityConfig(mode="plain")
    lk = links.ProxyLinks(
        _Loop(),
        ["tcp://a:1", "tcp://b:2"][:count],
        b"sX",
        sec,
        settings,
        lambda *a: None,
        lambda: [b"PING"],
    )
    sent = []
    lk._send_raw = lambda idx, frames: sent.append(idx) or True
    return lk, sent


def test_idle_links_are_pinged():
    lk, sent = _links()
    lk._heartbeat()
    assert sent == [0, 1]


def test_a_link_busy_both_ways_skips_its_ping_until_the_refresh():
    lk, sent = _links()
    now = time.monotonic()
    lk._pinged = [now - 2.0, now - 2.0]
    lk._traffic_in[0] = lk._traffic_out[0] = now - 0.1  # proxy 0 carried messages
    lk._traffic_out[1] = now - 0.1  # proxy 1: sent to, nothing heard
    lk._heartbeat()
    assert sent == [1]
    sent.clear()
    lk._pinged[0] = now - links.PING_REFRESH * 1.0 - 0.1  # not pinged for too long
    lk._heartbeat()
    assert sent == [0, 1]


def test_traffic_older_than_an_interval_does_not_count():
    lk, sent = _links(1)
    now = time.monotonic()
    lk._pinged = [now - 2.0]
    lk._traffic_in[0] = lk._traffic_out[0] = now - 1.5
    lk._heartbeat()
    assert sent == [0]


def test_a_proxy_live_when_this_process_froze_is_live_for_proxy_timeout_after_the_thaw():
    lk, _sent = _links()
    now = time.monotonic()
    lk.last_pong = [now - 5.0, now - 10.0]  # proxy_timeout is 3 s
    lk.io.last_stall = (now - 0.1, 4.8)  # frozen from now - 4.9 to now - 0.1
    assert lk.is_live(0)  # answered 0.1 s before the freeze: its pong is in the socket
    assert not lk.is_live(1)  # silent for 5.1 s before the freeze already
    lk.io.last_stall = (now - 3.1, 4.8)  # thawed longer than proxy_timeout ago
    assert not lk.is_live(0)
    lk.last_pong[0] = 0.0  # disconnected
    lk.io.last_stall = (now - 0.1, 4.8)
    assert not lk.is_live(0)


def test_no_proxy_is_declared_down_for_this_process_own_stall():
    downs = []
    lk, _sent = _links()
    lk._on_down = downs.append
    now = time.monotonic()
    lk.last_pong = [now - 5.0, now - 5.0]
    lk._was_live = [True, True]
    lk.io.last_stall = (now - 0.01, 4.9)
    lk._heartbeat()
    assert downs == []
    lk.io.last_stall = (-1e9, 0.0)  # the same silence without a stall: both are down
    lk._heartbeat()
    assert downs == [0, 1]
