"""Waiting under eventlet without eventlet's general-purpose primitives.

GreenWaiter: the I/O loop's wait; its descriptors stay registered on the hub.
GreenSlot: a green caller's wait for the replies to its call.

eventlet's green ``select.select`` adds every descriptor to the hub and removes it
again on each call (an ``epoll_ctl`` each way, a listener object, a lookup of the
descriptor).  The I/O loop waits once or twice per message it handles, on the same
descriptors (the wake-up pipe and each socket's ZMQ_FD), so :class:`GreenWaiter`
registers them once, while they stay the same, and only tells the hub which
greenlet to wake.

The hub polls level-triggered: a descriptor that stays readable while the loop is
not waiting makes the hub call :meth:`GreenWaiter._wake`, which then does nothing;
the loop reads (and so resets) its descriptors in every turn before it waits.
A descriptor must be forgotten (:meth:`GreenWaiter.forget`) before it is closed, or
the hub would keep a listener for a number the system may give to another file.
Should the hub find one obsolete all the same (eventlet checks when it opens a
green socket on a number it knows), the waiter drops it and registers it again
at the next wait.
"""

from __future__ import annotations

import collections
import queue

from eventlet import greenthread, hubs


class GreenWaiter:
    def __init__(self) -> None:
        self._hub = hubs.get_hub()
        self._listeners: dict[int, object] = {}
        self._registered: list[int] | None = None  # the list object last registered
        self._parked = None  # the greenlet waiting in wait()

    def _wake(self, *_args) -> None:
        parked, self._parked = self._parked, None
        if parked is not None:
            parked.switch()

    def _obsoleted(self, fd: int) -> None:
        """The hub dropped fd's listener (it found the number reused): register again."""
        self._listeners.pop(fd, None)
        self._registered = None

    def _register(self, fds: list[int]) -> None:
        wanted = set(fds)
        for fd in [fd for fd in self._listeners if fd not in wanted]:
            self.forget(fd)
        hub = self._hub
        for fd in wanted.difference(self._listeners):
            # cb: fd readable; tb: the hub found fd obsolete (after mark_as_closed)
            self._listeners[fd] = hub.add(
                hub.READ, fd, self._wake, self._wake, lambda fd=fd: self._obsoleted(fd)
            )
        self._registered = fds

    def forget(self, fd: int) -> None:
        listener = self._listeners.pop(fd, None)
        if listener is not None:
            self._hub.remove(listener)
        self._registered = None

    def close(self) -> None:
        for fd in list(self._listeners):
            self.forget(fd)

    def wait(self, fds: list[int], timeout: float) -> None:
        """Return when one of fds may be readable, or after timeout seconds.
        fds is compared by identity: the loop passes the same list until it changes."""
        if fds is not self._registered:
            self._register(fds)
        self._parked = greenthread.getcurrent()
        timer = self._hub.schedule_call_global(timeout, self._wake)
        try:
            self._hub.switch()
        finally:
            self._parked = None
            timer.cancel()


class GreenSlot:
    """The replies to one call, handed from the I/O loop to the green thread waiting.

    The caller's get() parks its greenlet on the hub with one timer; the loop's put()
    appends and, if the caller is parked, has the hub resume it at its next turn.
    That is what eventlet's Queue does for this one-reader case without its waiter
    objects, getter set and Timeout exception per call.  Both sides must run in one
    OS thread, the hub's (as with eventlet's Queue): under monkey-patching the loop
    and the callers are green threads of the same thread.
    """

    __slots__ = ("_hub", "_items", "_parked")

    def __init__(self) -> None:
        self._hub = hubs.get_hub()
        self._items: collections.deque = collections.deque()
        self._parked = None  # the greenlet waiting in get()

    def _resume(self) -> None:
        # the reply's wake-up and the timeout may both fire: only the first one counts
        parked, self._parked = self._parked, None
        if parked is not None:
            parked.switch()

    def put(self, item) -> None:
        self._items.append(item)
        if self._parked is not None:
            self._hub.schedule_call_global(0, self._resume)

    def get(self, timeout: float | None = None):
        """The oldest reply; raise queue.Empty after timeout seconds without one."""
        if not self._items:
            self._parked = greenthread.getcurrent()
            timer = None
            if timeout is not None:
                timer = self._hub.schedule_call_global(timeout, self._resume)
            try:
                self._hub.switch()
            finally:
                self._parked = None
                if timer is not None:
                    timer.cancel()
        if self._items:
            return self._items.popleft()
        raise queue.Empty
