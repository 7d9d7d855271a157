"""GreenWaiter: the green I/O loop's wait, on eventlet's real hub (green threads,
no monkey-patching needed), with real pipes."""

from __future__ import annotations

import os
import queue
import time

import eventlet
import pytest
from eventlet import hubs

from oslo_messaging_zmq.greenwait import GreenSlot, GreenWaiter


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


# -- GreenSlot ---------------------------------------------------------------------


def _in_green(func, *args):
    with eventlet.Timeout(10):
        return eventlet.spawn(func, *args).wait()


def test_slot_returns_a_reply_put_before_the_get():
    slot = GreenSlot()
    slot.put("r1")
    assert _in_green(slot.get, 1.0) == "r1"


def test_slot_wakes_the_parked_caller_on_put():
    slot = GreenSlot()
    eventlet.spawn_after(0.05, slot.put, "r1")
    start = time.monotonic()
    assert _in_green(slot.get, 5.0) == "r1"
    assert time.monotonic() - start < 2.0


def test_slot_times_out_and_a_late_reply_does_not_wake_the_caller_again():
    slot = GreenSlot()

    def caller():
        with pytest.raises(queue.Empty):
            slot.get(0.1)
        eventlet.spawn_after(0.05, slot.put, "late")
        start = time.monotonic()
        eventlet.sleep(0.3)  # a stray resume would end this sleep early
        return time.monotonic() - start

    assert _in_green(caller) >= 0.28
    assert _in_green(slot.get, 0.0) == "late"  # kept for a next get


def test_slot_two_replies_in_one_hub_turn_come_out_in_order_without_a_stray_resume():
    slot = GreenSlot()

    def caller():
        first = slot.get(5.0)
        start = time.monotonic()
        eventlet.sleep(0.2)  # the second put's scheduled resume must not end it
        return first, time.monotonic() - start, slot.get(0.0)

    def replies():
        slot.put("heartbeat")
        slot.put("reply")

    eventlet.spawn_after(0.05, replies)
    first, slept, second = _in_green(caller)
    assert (first, second) == ("heartbeat", "reply")
    assert slept >= 0.18


def test_slot_without_timeout_waits_for_the_reply():
    slot = GreenSlot()
    eventlet.spawn_after(0.3, slot.put, "r1")
    assert _in_green(slot.get, None) == "r1"


def test_slot_wait_ended_from_outside_is_not_resumed_by_a_later_reply():
    slot = GreenSlot()

    def caller():
        with pytest.raises(eventlet.Timeout), eventlet.Timeout(0.05):
            slot.get(None)  # the call's caller gave up (an outer timeout, a kill)
        eventlet.spawn_after(0.05, slot.put, "late")
        start = time.monotonic()
        eventlet.sleep(0.3)
        return time.monotonic() - start

    assert _in_green(caller) >= 0.28
