"""GreenWaiter: the green I/O loop's wait, on eventlet's real hub (green threads,
no monkey-patching needed), with real pipes."""

from __future__ import annotations

import os
import time

import eventlet
import pytest
from eventlet import hubs

from oslo_messaging_zmq.greenwait import GreenWaiter


@pytest.fixture
def pipes():
    made = []

    def make():
        rfd, wfd = os.pipe()
        made.append((rfd, wfd))
        return rfd, wfd

    yield make
    for pair in made:
        for fd in pair:
            try:
                os.close(fd)
            except OSError:
                pass


def _readers() -> dict:
    hub = hubs.get_hub()
    return hub.listeners[hub.READ]


def _timed_wait(waiter: GreenWaiter, fds: list[int], timeout: float) -> float:
    start = time.monotonic()
    with eventlet.Timeout(10):  # a waiter that never wakes fails here, not hangs
        eventlet.spawn(waiter.wait, fds, timeout).wait()
    return time.monotonic() - start


def test_returns_when_a_descriptor_becomes_readable(pipes):
    waiter = GreenWaiter()
    (r1, _w1), (r2, w2) = pipes(), pipes()
    fds = [r1, r2]
    eventlet.spawn_after(0.05, os.write, w2, b"x")
    assert _timed_wait(waiter, fds, 5.0) < 2.0
    waiter.close()


def test_returns_after_the_timeout_when_nothing_comes(pipes):
    waiter = GreenWaiter()
    rfd, _wfd = pipes()
    took = _timed_wait(waiter, [rfd], 0.2)
    assert 0.15 < took < 2.0
    waiter.close()


def test_descriptors_stay_registered_between_waits_of_the_same_list(pipes):
    waiter = GreenWaiter()
    rfd, wfd = pipes()
    fds = [rfd]
    os.write(wfd, b"x")  # readable: each wait returns at once
    _timed_wait(waiter, fds, 1.0)
    listener = _readers()[rfd]
    _timed_wait(waiter, fds, 1.0)
    assert _readers()[rfd] is listener
    waiter.close()
    assert rfd not in _readers()


def test_a_new_list_drops_the_descriptors_it_no_longer_has(pipes):
    waiter = GreenWaiter()
    (r1, w1), (r2, w2) = pipes(), pipes()
    os.write(w1, b"x")
    os.write(w2, b"x")
    _timed_wait(waiter, [r1, r2], 1.0)
    assert r1 in _readers() and r2 in _readers()
    _timed_wait(waiter, [r2], 1.0)
    assert r1 not in _readers() and r2 in _readers()
    waiter.close()


def test_a_forgotten_descriptor_number_can_be_waited_on_again_after_reuse(pipes):
    # the loop forgets a socket's descriptor before closing it; the number may come
    # back for another file, which must then wake the waiter (no stale listener)
    waiter = GreenWaiter()
    rfd, wfd = os.pipe()
    _timed_wait(waiter, [rfd], 0.05)
    waiter.forget(rfd)
    os.close(rfd)
    os.close(wfd)
    r2, w2 = pipes()
    assert r2 == rfd or w2 == rfd  # the lowest free numbers come back
    eventlet.spawn_after(0.05, os.write, w2, b"x")
    assert _timed_wait(waiter, [r2], 5.0) < 2.0
    waiter.close()


def test_a_readable_descriptor_while_nobody_waits_wakes_nobody(pipes):
    waiter = GreenWaiter()
    rfd, wfd = pipes()
    fds = [rfd]
    _timed_wait(waiter, fds, 0.05)  # registered, then nobody waits
    os.write(wfd, b"x")
    eventlet.sleep(0.05)  # the hub sees it readable and calls back: a no-op
    os.read(rfd, 16)  # the loop read it in its turn
    took = _timed_wait(waiter, fds, 0.2)
    assert took > 0.15  # a later wait is not woken by the old readiness
    waiter.close()


def test_a_descriptor_the_hub_finds_obsolete_is_registered_again(pipes):
    # eventlet drops every listener of a number it sees reused (mark_as_reopened);
    # the waiter must not keep believing it is registered
    waiter = GreenWaiter()
    rfd, wfd = pipes()
    fds = [rfd]
    _timed_wait(waiter, fds, 0.05)
    hubs.get_hub().mark_as_reopened(rfd)
    assert rfd not in _readers()
    eventlet.spawn_after(0.05, os.write, wfd, b"x")
    assert _timed_wait(waiter, fds, 5.0) < 2.0
    assert rfd in _readers()
    waiter.close()
