"""The driver under eventlet monkey-patching, with the eventlet and threading executors.

Monkey-patching is process-wide, so each scenario runs in its own process
(green_scenario.py) and reports JSON that is asserted here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid

import oslo_messaging
import pytest

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "green_scenario.py")
IDLE_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "green_idle_caster.py")


@pytest.mark.parametrize("executor", ["eventlet", "threading"])
def test_monkey_patched_process(url, executor):
    proc = subprocess.run(
        [sys.executable, SCRIPT, url, executor],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["echo"] == list(range(50))
    assert result["casts"] == list(range(50))
    assert result["during_long"] == list(range(5))
    # the hub was not blocked: short calls returned while the 4 s call ran
    assert result["during_long_elapsed"] < 3
    assert result["long"] == 4
    assert result["notifications"] == list(range(10))


def test_green_cast_leaves_before_the_process_goes_idle(url, transports):
    """A WSGI worker under eventlet (nova-api in uwsgi) casts, answers its request and runs
    no Python until the next one: the casts must reach the server meanwhile (they sat in
    the green I/O loop's queue until the next request before the fix)."""
    topic = "idle-" + uuid.uuid4().hex
    seen: list[int] = []

    class Recorder:
        def record(self, ctxt, value):
            seen.append(value)

    server = oslo_messaging.get_rpc_server(
        transports(url),
        oslo_messaging.Target(topic=topic, server="s"),
        [Recorder()],
        executor="threading",
    )
    server.start()
    proc = subprocess.Popen(
        [sys.executable, IDLE_SCRIPT, url, topic, "5", "8"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline().strip() == "cast", proc.stderr.read()[-3000:]
        deadline = time.monotonic() + 5  # well inside the caster's 8 s of idleness
        while len(seen) < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.poll() is None, "the caster must still be idle"
        assert sorted(seen) == list(range(5))
    finally:
        proc.kill()
        proc.wait()
        server.stop()
        server.wait()


BURST_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "green_cast_burst.py")


def _counter_totals(proxies, *names):
    totals = dict.fromkeys(names, 0)
    for proxy in proxies:
        counters = proxy.metrics()["counters"]
        for name in names:
            totals[name] += counters.get(name, 0)
    return totals


def test_a_green_burst_is_acknowledged_in_batches_and_run_once(proxies, url):
    """Green workers of one burst take their casts before the listener's loop runs again:
    their "taken" go to the sender in batched ACKs, every cast settled by them (none
    sent again after ack_timeout) and run once."""
    callers, each = 8, 100
    before = _counter_totals(proxies, "routed", "acks")
    proc = subprocess.Popen(
        [sys.executable, BURST_SCRIPT, url, str(callers), str(each)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        assert line, proc.stderr.read()[-3000:]
        values = json.loads(line)["values"]
        assert sorted(values) == list(range(callers * each))  # every cast, once
        assert proc.stdout.readline().strip() == "settled"  # 4.5 s later, past ack_timeout
        after = _counter_totals(proxies, "routed", "acks")
        routed = after["routed"] - before["routed"]
        acks = after["acks"] - before["acks"]
        assert routed == callers * each, "casts were sent again: their 'taken' was not heard"
        assert 0 < acks < routed, f"{acks} ACKs for {routed} casts: no batch"
    finally:
        proc.stdin.close()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
