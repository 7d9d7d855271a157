"""Two proxies, steady calls and casts, one proxy SIGKILLed or hung (SIGSTOP) mid-stream.

Every cast must be delivered exactly once and every call answered.  The hang
outlasts the clients' proxy_timeout and the proxies' peer_timeout, so clients
re-send through the other proxy while the frozen one still holds the originals.
"""

from __future__ import annotations

import collections
import signal
import threading
import time
import uuid

import oslo_messaging
import pytest

KILL_AT = 3.0  # seconds into the run
HANG = 7.0  # s a hung proxy stays stopped (> proxy_timeout 3 s and peer_timeout 5 s)
DURATION = {"kill": 8.0, "hang": KILL_AT + HANG + 4.0}  # seconds of traffic
MAX_ITERATIONS = 4000  # per client thread, bounds the run on fast machines
CLIENTS = 3
CASTS_PER_CALL = 10  # many casts in flight inside the proxy when it fails


class Recorder:
    def __init__(self, name):
        self.name = name
        self.lock = threading.Lock()
        self.casts = []

    def record(self, ctxt, key):
        with self.lock:
            self.casts.append(tuple(key))

    def echo(self, ctxt, key):
        return key


@pytest.mark.parametrize("fault", ["kill", "hang"])
def test_proxy_fault_mid_stream(proxies, url, transports, fault):
    topic = "fo-" + uuid.uuid4().hex
    recorders = [Recorder("s%d" % i) for i in range(2)]
    servers = []
    for rec in recorders:
        srv = oslo_messaging.get_rpc_server(
            transports(url),
            oslo_messaging.Target(topic=topic, server=rec.name),
            [rec],
            executor="threading",
        )
        srv.start()
        servers.append(srv)
    time.sleep(0.5)

    sent = collections.defaultdict(list)
    answered = collections.defaultdict(int)
    calls = collections.defaultdict(int)
    errors = []
    stop_at = time.monotonic() + DURATION[fault]

    def _client(tid):
        client = oslo_messaging.get_rpc_client(
            transports(url), oslo_messaging.Target(topic=topic), timeout=20
        )
        seq = 0
        while time.monotonic() < stop_at and seq < MAX_ITERATIONS:
            key = [tid, seq]
            try:
                client.cast({}, "record", key=key)
                sent[tid].append((tid, seq))
                if seq % CASTS_PER_CALL == 0:
                    calls[tid] += 1
                    if client.call({}, "echo", key=key) == key:
                        answered[tid] += 1
                else:
                    time.sleep(0.002)
            except Exception as exc:  # counted, asserted below
                errors.append(repr(exc))
            seq += 1

    threads = [threading.Thread(target=_client, args=(i,), daemon=True) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    time.sleep(KILL_AT)
    # kill the proxy that carries the most traffic right now
    victim = max(proxies, key=lambda p: p.metrics()["counters"]["routed"])
    survivor = next(p for p in proxies if p is not victim)
    before = survivor.metrics()["counters"]["routed"]
    if fault == "kill":
        victim.kill()
    else:
        victim.proc.send_signal(signal.SIGSTOP)
    killed_at = time.monotonic()
    if fault == "hang":
        time.sleep(HANG)
        victim.proc.send_signal(signal.SIGCONT)
    for thread in threads:
        thread.join(DURATION[fault] + 60)
    assert not any(t.is_alive() for t in threads)

    expected = sorted(k for keys in sent.values() for k in keys)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if sum(len(r.casts) for r in recorders) >= len(expected):
            break
        time.sleep(0.1)
    time.sleep(1.5)  # late duplicates would show up here
    received = sorted(k for r in recorders for k in r.casts)
    for srv in servers:
        srv.stop()
        srv.wait()

    assert errors == []
    assert len(expected) > 100, "too little traffic to mean anything"
    assert time.monotonic() - killed_at > 2, "traffic must continue after the kill"
    missing = set(expected) - set(received)
    duplicates = [k for k, n in collections.Counter(received).items() if n > 1]
    assert not missing, "lost casts: %d" % len(missing)
    assert not duplicates, "duplicated casts: %d" % len(duplicates)
    assert received == expected
    assert dict(answered) == dict(calls)
    assert survivor.metrics()["counters"]["routed"] > before
    assert all(len(r.casts) > 0 for r in recorders)
