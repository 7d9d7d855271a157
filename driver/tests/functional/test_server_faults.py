"""Servers that die or freeze with casts queued at them: nothing lost, nothing run twice.

Servers run as separate processes (peer_server.py) that append every executed
cast to a record file (survives SIGKILL); the test counts by value.
"""

from __future__ import annotations

import collections
import signal
import threading
import time
import uuid

import frozen_window
import harness
import oslo_messaging
import pytest


def _executed(path):
    return collections.Counter(int(value) for _server, value in harness.read_record(path))


def _kill(proc):
    if proc.poll() is None:
        proc.kill()
    proc.wait(10)


def test_killed_server_gives_its_queue_to_another(url, transports, tmp_path):
    topic = "kq-" + uuid.uuid4().hex
    record = str(tmp_path / "record")
    window = 30
    slow = harness.start_peer(
        url, topic, "slow", "--record", record, "--delay", "0.2", "--workers", "1"
    )
    replacement = None
    try:
        client = oslo_messaging.get_rpc_client(
            transports(url + "&max_inflight=%d" % window), oslo_messaging.Target(topic=topic)
        )
        for value in range(window):  # fills the window: one runs, the others wait at "slow"
            client.cast({}, "record", value=value)
        # killed inside a cast's pause, after its "taken" left: a kill between a worker
        # taking a cast and its "taken" leaving is not covered (README, residual window)
        assert harness.wait_for(lambda: len(harness.read_record(record)) >= 4, 10)
        ran = len(harness.read_record(record))
        assert harness.wait_for(lambda: len(harness.read_record(record)) > ran, 5, 0.01)
        time.sleep(0.08)
        slow.send_signal(signal.SIGKILL)
        slow.wait(10)
        ran_before_kill = sum(_executed(record).values())
        assert 0 < ran_before_kill < window
        replacement = harness.start_peer(url, topic, "replacement", "--record", record)
        started = time.monotonic()
        for value in range(window, 2 * window):  # the window's slots came back
            client.cast({}, "record", value=value)
        assert time.monotonic() - started < 20
        assert harness.wait_for(lambda: len(_executed(record)) >= 2 * window, 30)
        time.sleep(1.5)  # late duplicates would show here
        counts = _executed(record)
        assert sorted(counts) == list(range(2 * window))
        assert [v for v, n in counts.items() if n > 1] == []
    finally:
        _kill(slow)
        if replacement is not None:
            _kill(replacement)


def test_frozen_server_does_not_run_what_went_elsewhere(proxies, url, transports, tmp_path):
    """SIGSTOP one of two servers for longer than the proxies' peer_timeout while casts
    are queued at it and in its sockets; after SIGCONT every cast ran exactly once.

    Both of its workers are inside a long cast when it is frozen: this is about the
    casts queued behind them (a freeze while workers take casts is the next test)."""
    topic = "fz-" + uuid.uuid4().hex
    record = str(tmp_path / "record")
    pause = 6.0
    frozen = harness.start_peer(url, topic, "frozen", "--record", record, "--workers", "2")
    steady = harness.start_peer(url, topic, "steady", "--record", record)
    try:
        assert harness.wait_for(lambda: harness.registered(proxies, topic, 2), 10)
        client = oslo_messaging.get_rpc_client(transports(url), oslo_messaging.Target(topic=topic))
        busy_since = time.monotonic()
        for value in (0, 1):  # one per worker
            client.prepare(server="frozen").cast({}, "record", value=value, pause=pause)
        assert harness.wait_for(lambda: len(_executed(record)) == 2, 10)
        total = 2
        for _unused in range(100):  # about half wait at "frozen" behind its busy workers
            client.cast({}, "record", value=total)
            total += 1
        frozen.send_signal(signal.SIGSTOP)
        assert time.monotonic() - busy_since < pause - 0.5, "froze after its workers were free"
        queued_at_freeze = total
        stop_at = time.monotonic() + 8.0  # > peer_timeout 5 s + heartbeat
        while time.monotonic() < stop_at:
            client.cast({}, "record", value=total)
            total += 1
            time.sleep(0.01)
        frozen.send_signal(signal.SIGCONT)
        assert harness.wait_for(lambda: harness.registered(proxies, topic, 2), 10)
        back_from = total
        for _unused in range(100):
            client.cast({}, "record", value=total)
            total += 1
        assert harness.wait_for(lambda: len(_executed(record)) >= total, 40)
        time.sleep(2.0)
        counts = _executed(record)
        assert sorted(counts) == list(range(total))
        assert [v for v, n in counts.items() if n > 1] == []
        ran = collections.defaultdict(set)
        for server, value in harness.read_record(record):
            ran[server].add(int(value))
        # what waited at "frozen" ran at "steady" while it was frozen...
        assert len(ran["steady"] & set(range(2, queued_at_freeze))) > 60
        # ...and "frozen" is back in the rotation
        assert ran["frozen"] & set(range(back_from, total))
    finally:
        frozen.send_signal(signal.SIGCONT)
        _kill(frozen)
        _kill(steady)


@pytest.mark.timeout(480)  # up to 15 rounds of about 20 s
def test_server_frozen_at_random_while_its_workers_take_casts_runs_each_once(
    proxies, url, tmp_path
):
    """SIGSTOP at a random moment while 8 workers take casts as fast as they come
    (frozen_window.py's rounds), past peer_timeout, with confirm_casts on: every cast
    ran exactly once.  Without the proxies' confirmation of "taken"
    about half of such freezes ran a cast on both servers (README, "Delivery
    guarantees").

    The freezes must have hit that window: some "taken" reached a proxy late (it
    was refused) or lost its confirmation with its connection (asked again).  A
    freeze hits it by chance, the more often the longer a verdict takes: with the
    proxies' native core 2 and 3 rounds of 8 did (25-40 %), with their Python core 5
    of 8.  So the rounds go on until one did, 3 at least and 15 at most (all 15
    missing it: about 1 % at 25 %); every round must run each cast exactly once."""
    before = frozen_window.verdict_counters(proxies)
    for number in range(1, 16):
        if number > 3 and sum((frozen_window.verdict_counters(proxies) - before).values()):
            break
        result = frozen_window.one_round(
            url + "&confirm_casts=true",
            lambda topic: harness.registered(proxies, topic, 2),
            str(tmp_path),
            8,
            0.005,
            7.0,
            [],
        )
        assert result["lost"] == 0 and result["duplicated"] == [], result
        assert result["elsewhere"] > 0.9, result  # the frozen server's share moved
    hit = frozen_window.verdict_counters(proxies) - before
    assert sum(hit.values()) > 0, "no freeze fell while a 'taken' awaited its verdict"


PEER_TIMEOUT = 5.0  # the proxy's default
FROZEN_AT_LEAST, FROZEN_AT_MOST = 2.0, 3.5


def test_busy_listener_is_retried_not_replaced(keys, tmp_path, transports):
    """A listener whose queue at the proxy is full (tiny HWM, process frozen 2 s, less
    than peer_timeout) gets "busy" answers for its share, never a stand-in; after it
    thaws every cast ran exactly once."""
    proxy = harness.ProxyProcess(keys, str(tmp_path), socket_hwm=10).start()
    topic = "busy-" + uuid.uuid4().hex
    record = str(tmp_path / "record")
    url = harness.transport_url([proxy], keys)
    small = url + "&socket_hwm=10"
    frozen = harness.start_peer(small, topic, "frozen", "--record", record)
    steady = harness.start_peer(small, topic, "steady", "--record", record)
    try:
        client = oslo_messaging.get_rpc_client(
            transports(url + "&max_inflight=20000"), oslo_messaging.Target(topic=topic)
        )
        body = "x" * 4096  # fills the kernel's socket buffers quickly
        total = 6000

        def cast_all():
            for value in range(total):
                client.cast({}, "record", value=value, pad=body)

        # The freeze, not the casting, is bounded: casting 6,000 casts took more than
        # peer_timeout on a loaded host (CI of 2026-12-05), the proxy forgot the frozen
        # listener and gave its share to the other, which is not what this tests.
        frozen.send_signal(signal.SIGSTOP)
        stopped = time.monotonic()
        casting = threading.Thread(target=cast_all, name="cast-all", daemon=True)
        casting.start()
        harness.wait_for(lambda: proxy.metrics()["counters"]["busy"] > 0, FROZEN_AT_MOST)
        time.sleep(max(0.0, FROZEN_AT_LEAST - (time.monotonic() - stopped)))
        busy = proxy.metrics()["counters"]["busy"]
        frozen.send_signal(signal.SIGCONT)
        assert time.monotonic() - stopped < PEER_TIMEOUT, "frozen for peer_timeout: not this test"
        casting.join(120)
        assert not casting.is_alive()
        assert harness.wait_for(lambda: len(_executed(record)) >= total, 60)
        time.sleep(2.0)
        counts = _executed(record)
        assert sorted(counts) == list(range(total))
        assert [v for v, n in counts.items() if n > 1] == []
        assert busy > 0, "the frozen listener's queue never filled"
    finally:
        frozen.send_signal(signal.SIGCONT)
        _kill(frozen)
        _kill(steady)
        proxy.stop()
