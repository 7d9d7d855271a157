"""A proxy frozen (SIGSTOP) outside its poll: after its receive burst, before its housekeeping.

A proxy that noticed its own stall only when it came back to its poll ran
its housekeeping first and expired every listener (silent, for it, as long
as it was frozen).  The copies waiting in its sockets (sent again meanwhile
through the other proxy and executed there) were then held and handed to
whichever listener re-registered first, or routed over a partial listener
set: another server than the one the other proxy chose, where per-listener
de-duplication cannot recognise them.  A busy proxy (machine load) spends
most of its time outside its poll, so that is where a SIGSTOP usually hits
it; here the proxy stops itself there, and the listeners' registrations
reach it a little after the stale copies (freezing_proxy.py).

Every cast, call and notification is counted by its id over all receivers:
each must have run exactly once (notifications: once per pool).
"""

from __future__ import annotations

import collections
import os
import signal
import sys
import threading
import time
import uuid

import harness
import oslo_messaging
import pytest

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "freezing_proxy.py")
WARMUP = 2.5  # s of traffic before the freeze
HANG = 7.0  # > proxy_timeout (3 s) and peer_timeout (5 s)
AFTER = 4.0  # s of traffic after SIGCONT
SERVERS = 4
POOL = 2  # notification listeners in the one pool
CLIENTS = 3
LATE = 0.5  # s the listeners' registrations reach the thawed proxy after the rest
GRACE = 5.0  # > ack_timeout: late duplicates show up within this


class FreezingProxy(harness.ProxyProcess):
    def __init__(self, keys, workdir):
        super().__init__(keys, workdir)
        self.trigger = os.path.join(self.workdir, "freeze-%d" % self.port)

    def command(self, conf):
        return [sys.executable, SCRIPT, self.trigger, str(LATE), "--config-file", conf]

    def stopped(self) -> bool:
        with open("/proc/%d/stat" % self.proc.pid) as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] == "T"


class Runs:
    """Every execution, by message id: kind -> key -> [receiver, ...]."""

    def __init__(self):
        self.lock = threading.Lock()
        self.done = collections.defaultdict(lambda: collections.defaultdict(list))

    def add(self, kind, key, who):
        with self.lock:
            self.done[kind][key].append(who)

    def total(self):
        with self.lock:
            return sum(len(v) for runs in self.done.values() for v in runs.values())


class RpcEndpoint:
    def __init__(self, runs, name):
        self.runs, self.name = runs, name

    def rec_cast(self, ctxt, key):
        self.runs.add("cast", key, self.name)

    def rec_call(self, ctxt, key):
        self.runs.add("call", key, self.name)
        return key


class NotifyEndpoint:
    def __init__(self, runs, name):
        self.runs, self.name = runs, name

    def info(self, ctxt, publisher_id, event_type, payload, metadata):
        self.runs.add("notify", payload["key"], self.name)


@pytest.fixture
def freezing_proxies(keys, tmp_path):
    started = [FreezingProxy(keys, str(tmp_path)).start() for _ in range(2)]
    yield started
    for proxy in started:
        if proxy.alive():
            proxy.proc.send_signal(signal.SIGCONT)
        proxy.stop()


def test_hung_proxy_frozen_outside_poll_exactly_once(freezing_proxies, keys, transports):
    url = harness.transport_url(freezing_proxies, keys)
    topic = "frozen-" + uuid.uuid4().hex
    ntopic = topic + "-n"
    runs = Runs()
    servers = []
    for idx in range(SERVERS):
        name = "s%d" % idx
        servers.append(
            oslo_messaging.get_rpc_server(
                transports(url),
                oslo_messaging.Target(topic=topic, server=name),
                [RpcEndpoint(runs, name)],
                executor="threading",
            )
        )
    for idx in range(POOL):
        servers.append(
            oslo_messaging.get_notification_listener(
                transports(url, notification=True),
                [oslo_messaging.Target(topic=ntopic)],
                [NotifyEndpoint(runs, "n%d" % idx)],
                executor="threading",
                pool="pa",
            )
        )
    for srv in servers:
        srv.start()
    time.sleep(1.5)  # registrations reach both proxies

    sent = collections.defaultdict(list)
    errors = []
    stop = threading.Event()

    def _client(tid):
        client = oslo_messaging.get_rpc_client(
            transports(url), oslo_messaging.Target(topic=topic), timeout=30
        )
        notifier = oslo_messaging.Notifier(
            transports(url, notification=True),
            publisher_id="frozen",
            driver="messaging",
            topics=[ntopic],
        )
        seq = 0
        while not stop.is_set():
            key = "%d-%d" % (tid, seq)
            try:
                if seq % 10 == 0:
                    assert client.call({}, "rec_call", key=key) == key
                    sent["call"].append(key)
                elif seq % 5 == 0:
                    notifier.info({}, "frozen.test", {"key": key})
                    sent["notify"].append(key)
                else:
                    client.cast({}, "rec_cast", key=key)
                    sent["cast"].append(key)
                    time.sleep(0.003)
            except Exception as exc:  # asserted below
                errors.append(repr(exc))
            seq += 1

    threads = [threading.Thread(target=_client, args=(i,), daemon=True) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(WARMUP)
        victim = max(freezing_proxies, key=lambda p: p.metrics()["counters"]["routed"])
        with open(victim.trigger, "w"):
            pass
        assert harness.wait_for(victim.stopped, timeout=5.0), "the proxy did not freeze"
        time.sleep(HANG)
        victim.proc.send_signal(signal.SIGCONT)
        time.sleep(AFTER)
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)
    assert not any(t.is_alive() for t in threads)

    expected = sum(len(keys) for keys in sent.values())
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and runs.total() < expected:
        time.sleep(0.1)
    time.sleep(GRACE)
    with open(victim.log_path) as handle:
        log = handle.read()
    report = []
    for kind in ("cast", "call", "notify"):
        done = runs.done[kind]
        dups = {k: v for k, v in done.items() if len(v) > 1}
        lost = [k for k in sent[kind] if k not in done]
        report.append(
            "%s: sent %d, duplicated %d %s, lost %d"
            % (kind, len(sent[kind]), len(dups), sorted(dups.items())[:3], len(lost))
        )
    timed_out = log.count("timed out")
    counters = victim.metrics()["counters"]
    summary = "; ".join(report) + "; frozen proxy: %d listeners expired, counters %s" % (
        timed_out,
        {k: counters[k] for k in ("routed", "held", "delivered_from_hold", "stalls")},
    )
    print(summary)
    for srv in servers:
        srv.stop()
        srv.wait()
    assert errors == [], errors[:5]
    assert len(sent["cast"]) > 100 and sent["call"] and sent["notify"], summary
    for kind in ("cast", "call", "notify"):
        done = runs.done[kind]
        assert all(len(done.get(k, ())) == 1 for k in sent[kind]), summary
    assert not set(runs.done["cast"]) - set(sent["cast"]), "executions nobody sent"
    assert counters["stalls"] >= 1, "the frozen proxy did not notice its stall: " + summary
    assert timed_out == 0, summary
