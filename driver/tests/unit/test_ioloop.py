"""IOLoop.run_now: the caller runs a closure itself only while the loop waits idle."""

from __future__ import annotations

import threading
import time

import pytest
import zmq

from oslo_messaging_zmq.ioloop import IOLoop


def _until(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.001)
    return False


@pytest.fixture
def io():
    loop = IOLoop("test-io")
    loop.start()
    yield loop
    loop.stop()


def test_runs_in_the_callers_thread_while_the_loop_waits(io):
    assert _until(lambda: io._parked)
    ran = []
    io.run_now(lambda: ran.append(threading.current_thread()))
    assert ran == [threading.current_thread()]


def test_queued_behind_pending_commands_in_order(io):
    release = threading.Event()
    order = []
    io.call_soon(lambda: (release.wait(5), order.append("first")))
    assert _until(lambda: not io._parked and not io._cmds)  # the loop runs "first"
    io.run_now(lambda: order.append(("second", threading.current_thread().name)))
    assert order == []  # not run by this thread while the loop is busy
    release.set()
    assert _until(lambda: len(order) == 2)
    assert order == ["first", ("second", "test-io")]


def test_a_timer_added_by_the_caller_runs(io):
    assert _until(lambda: io._parked)
    fired = threading.Event()
    io.run_now(io.call_later, 0.0, fired.set)
    assert fired.wait(5)


@pytest.fixture
def unstarted():
    """An IOLoop that is not running, with one PAIR socket and its peer."""
    io = IOLoop("unstarted")
    peer = io.context.socket(zmq.PAIR)
    mine = io.context.socket(zmq.PAIR)
    peer.bind("inproc://unstarted")
    mine.connect("inproc://unstarted")
    io._sockets[mine] = lambda frames: None
    yield io, peer, mine
    peer.close(0)
    mine.close(0)
    io.context.term()


def test_what_makes_the_waiting_loop_look_again(unstarted):
    io, peer, mine = unstarted
    io._fds()
    io._parked_until = time.monotonic() + 1.0
    assert not io._needs_turn()
    peer.send(b"x")
    assert _until(lambda: mine.getsockopt(zmq.EVENTS) & zmq.POLLIN)
    assert io._needs_turn()
    mine.recv()
    assert not io._needs_turn()
    io.call_later(0.5, lambda: None)  # due before the loop's wait ends
    assert io._needs_turn()
    io._timers.clear()
    io._fd_list = None  # a socket added or removed: the loop must rebuild its set
    assert io._needs_turn()


def test_when_a_busy_green_turn_may_wait_at_once(unstarted):
    io, peer, mine = unstarted
    io._running = True
    assert io._drained()
    peer.send(b"x")
    assert _until(lambda: mine.getsockopt(zmq.EVENTS) & zmq.POLLIN)
    assert not io._drained()  # a message came in meanwhile: turn again
    mine.recv()
    assert io._drained()
    io.call_soon(lambda: None)
    assert not io._drained()  # a command queued: turn again
    io._cmds.clear()
    io._running = False
    assert not io._drained()  # stopping: the loop must see it


def test_end_of_turn_steps_run_once_after_the_turns_commands(io):
    release = threading.Event()
    log = []

    def collect(item):
        log.append(item)
        io.at_turn_end(flush)  # asked by each command: run once

    def flush():
        log.append("flush")

    io.call_soon(release.wait, 5)
    assert _until(lambda: not io._parked and not io._cmds)  # the loop is busy
    io.call_soon(collect, "a")
    io.call_soon(collect, "b")
    release.set()
    assert _until(lambda: "flush" in log)
    time.sleep(0.05)
    assert log == ["a", "b", "flush"]


def test_a_run_now_in_the_callers_thread_ends_its_turn_before_returning(io):
    assert _until(lambda: io._parked)
    log = []
    io.run_now(lambda: (log.append("a"), io.at_turn_end(lambda: log.append("flush"))))
    assert log == ["a", "flush"]


def test_a_pending_end_of_turn_step_keeps_a_green_turn_from_waiting(unstarted):
    io, _peer, _mine = unstarted
    io._running = True
    io.at_turn_end(lambda: None)
    assert not io._drained()
    io._end_turn()
    assert io._drained()
    io._running = False
