"""Casts at the edges of a listener's lease, counted by what ran (found by the
scale simulation, driver/bench/scale.py; reproducers in driver/bench/repro/).

* A server frozen longer than the proxies' peer_timeout: the proxies forget it
  and hold the cast its sender re-sends; the sender settles on "held".  The
  thawed server must run the copy the proxy hands it from the hold, not
  release it as a stale copy of its frozen sockets (it was lost: nobody sent
  it again).
* A worker takes a waiting cast while the listener's I/O loop is starved past
  the lease: the late loop must not release it (its sender would send it
  again, and it ran twice).
"""

from __future__ import annotations

import signal
import threading
import time
import uuid

import harness
import oslo_messaging


def _executed(path) -> list[str]:
    return [value for _server, value in harness.read_record(str(path))]


def test_cast_held_for_a_server_frozen_past_peer_timeout_runs_once(url, transports, tmp_path):
    topic = "frozen-" + uuid.uuid4().hex
    record = tmp_path / "executed"
    record.touch()
    server = harness.start_peer(url, topic, "host-1", "--record", str(record))
    client = oslo_messaging.get_rpc_client(
        transports(url), oslo_messaging.Target(topic=topic, server="host-1")
    )
    try:
        client.cast({}, "record", value="before")
        assert harness.wait_for(lambda: _executed(record) == ["before"])
        server.send_signal(signal.SIGSTOP)
        time.sleep(0.5)
        client.cast({}, "record", value="while-frozen")
        time.sleep(8)  # > peer_timeout (5 s): the proxies forget it and hold the re-sent copy
        server.send_signal(signal.SIGCONT)
        assert harness.wait_for(lambda: "while-frozen" in _executed(record), timeout=15)
        client.cast({}, "record", value="after")
        assert harness.wait_for(lambda: "after" in _executed(record), timeout=10)
        time.sleep(4)  # longer than ack_timeout: a second run would show now
        assert _executed(record) == ["before", "while-frozen", "after"]
    finally:
        server.kill()
        server.wait()


def test_cast_taken_while_the_io_loop_is_starved_runs_once(url, transports):
    topic = "starved-" + uuid.uuid4().hex
    conf = harness.new_conf()
    server_transport = oslo_messaging.get_rpc_transport(conf, url=url)
    ran: list[str] = []
    lock = threading.Lock()

    class Endpoint:
        def record(self, ctxt, value):
            with lock:
                ran.append(value)

        def busy(self, ctxt, block, hold):
            time.sleep(0.3)  # the next cast arrives and waits for this (only) worker
            # the I/O loop stops, as one starved of the GIL by a busy process
            server_transport._driver._io.call_soon(time.sleep, block)
            time.sleep(hold)  # then the worker takes the waiting cast, lease still fresh

    target = oslo_messaging.Target(topic=topic, server="host-1")
    server = oslo_messaging.get_rpc_server(
        server_transport, target, [Endpoint()], executor="threading"
    )
    conf.set_override("executor_thread_pool_size", 1)  # registered by the server
    server.start()
    try:
        client = oslo_messaging.get_rpc_client(transports(url), target)
        client.cast({}, "busy", block=3.5, hold=1.0)  # 3.5 s > ack_timeout (3 s)
        client.cast({}, "record", value="M")
        assert harness.wait_for(lambda: ran, timeout=10)
        time.sleep(10)  # the sender's re-send of a released cast would have run by now
        assert ran == ["M"]
    finally:
        server.stop()
        server.wait()
        server_transport.cleanup()
