"""One I/O thread per transport that owns every ZeroMQ socket of it.

libzmq sockets are not thread-safe, so only one thread at a time touches them:
callers queue closures with :meth:`IOLoop.call_soon` and the loop runs them.  The loop
waits with ``select.select`` on the sockets' ZMQ_FD plus a wake-up pipe and
only uses non-blocking socket calls.  Without eventlet it is a plain OS
thread waiting in ``poll(2)`` (no FD_SETSIZE limit: services with thousands of
open files have descriptors above 1024).

:meth:`IOLoop.run_now` saves the loop's wake-up (a context switch per message,
the larger part of a round trip's cost on a small VM): while the loop waits
with nothing queued, the caller runs the closure itself, holding the lock the
loop holds for every turn, so it still runs alone, as if in the loop.

Under eventlet monkey-patching ``threading.Thread`` is a green thread, the
wait is on eventlet's hub (its epoll, no limit either; the descriptors stay
registered between waits, greenwait.py) and a busy loop yields to the hub after
every round, so other green threads keep running.
"""

from __future__ import annotations

import collections
import heapq
import itertools
import logging
import os
import posix
import queue
import select
import threading
import time
from collections.abc import Callable

import zmq

LOG = logging.getLogger(__name__)

_MAX_BURST = 256  # messages read from one socket before looking at the others
STALL_MIN = 1.0  # s the loop may be late before it counts as a stall

# The wake-up pipe is non-blocking; eventlet's green os.read/os.write would park
# the caller on EAGAIN instead of returning, so the raw posix functions are used.
_raw_read = posix.read
_raw_write = posix.write


_MORE = int(zmq.NOBLOCK | zmq.SNDMORE)
_LAST = int(zmq.NOBLOCK)


def send_frames(sock: zmq.Socket, frames: list[bytes]) -> None:
    """Non-blocking multipart send with precomputed int flags (pyzmq's
    send_multipart combines enum flags per frame, which shows in profiles).
    libzmq accepts all parts once the first is accepted, so this is atomic."""
    last = len(frames) - 1
    for i, frame in enumerate(frames):
        sock.send(frame, _LAST if i == last else _MORE, copy=False)


def _eventlet_patched(module: str) -> bool:
    try:
        from eventlet import patcher
    except ImportError:
        return False
    return patcher.is_monkey_patched(module)


def make_queue(green: bool):
    """A lock-light C queue for cross-thread hand-offs, or a green-aware one
    when eventlet has patched threads (SimpleQueue.get would block the hub).
    green: the I/O loop's own answer (IOLoop.green), not looked up per call."""
    if green:
        return queue.Queue()
    return queue.SimpleQueue()


def make_reply_slot(green: bool):
    """Where the replies to one call (or one verdict) wait for the one thread that
    asked: a green slot (greenwait.GreenSlot) under eventlet, else a C queue."""
    if green:
        from oslo_messaging_zmq.greenwait import GreenSlot

        return GreenSlot()
    return queue.SimpleQueue()


class IOLoop:
    def __init__(self, name: str = "zmq-io") -> None:
        self.context = zmq.Context()
        self._name = name
        self._cmds: collections.deque = collections.deque()
        self._rfd, self._wfd = os.pipe()
        os.set_blocking(self._rfd, False)
        os.set_blocking(self._wfd, False)
        self._signaled = False
        self._sockets: dict[zmq.Socket, Callable[[list[bytes]], None]] = {}
        self._fd_list: list[int] | None = None  # the descriptors to wait on, None: to rebuild
        self._fd_of: dict[zmq.Socket, int] = {}  # each socket's ZMQ_FD, once asked
        self._green_wait = None  # GreenWaiter under eventlet (created in the loop)
        self._timers: list = []
        self._seq = itertools.count()
        # run once at the end of the turn (or run_now) that asked: what a turn's
        # commands collected, sent in one message (listener: batched "taken" ACKs)
        self._at_turn_end: dict[Callable, None] = {}
        self._running = False
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        # held by the loop for each turn and released while it waits: whoever holds
        # it may touch the sockets (run_now)
        self._turn = threading.Lock()
        self._parked = False  # the loop waits for its descriptors (under _turn)
        self._parked_until = 0.0  # when that wait ends by itself
        # Under eventlet the loop is a green thread: it runs only while the caller's green
        # thread waits on something.
        self.green = _eventlet_patched("thread")
        # the last time this loop did not run for longer than STALL_MIN seconds
        # (process frozen, VM paused): (when it ran again, how long it was out)
        self.last_stall: tuple[float, float] = (-1e9, 0.0)
        self.turn_started = time.monotonic()

    # -- life cycle -----------------------------------------------------
    def start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._running = True
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is None:
            return

        def _halt():
            self._running = False

        self.call_soon(_halt)
        thread.join(timeout)

    def in_loop(self) -> bool:
        return threading.current_thread() is self._thread

    def stalled_since(self, now: float) -> tuple[float, float]:
        """last_stall, counting a stall that froze the current turn midway (loop context)."""
        late = now - self.turn_started
        if late > STALL_MIN and self.last_stall[0] < self.turn_started:
            self.last_stall = (now, late)
            LOG.warning("zmq I/O loop did not run for %.1f s", late)
        return self.last_stall

    # -- scheduling (thread-safe) ---------------------------------------
    def call_soon(self, fn: Callable, *args) -> None:
        self._cmds.append((fn, args))
        self._wake()

    def run_now(self, fn: Callable, *args) -> None:
        """Run fn(*args) now in the caller's thread if the loop is waiting with
        nothing queued (it may not run in the loop's thread: the loop is then blocked
        on the turn lock), else queue it like call_soon (same order as before)."""
        if self._turn.acquire(False):
            try:
                if self._parked and self._running and not self._cmds:
                    try:
                        fn(*args)
                    except Exception:
                        LOG.exception("zmq I/O command failed")
                    self._end_turn()
                    if self._needs_turn():
                        self._wake()
                    return
            finally:
                self._turn.release()
        self.call_soon(fn, *args)

    def _needs_turn(self) -> bool:
        """After run_now: does the waiting loop have to look again? A send may have
        consumed the ZMQ_FD edge of a message that arrived meanwhile, fn may have
        added a socket or a timer due before the loop's wait ends."""
        if self._fd_list is None:
            return True
        if self._timers and self._timers[0][0] < self._parked_until:
            return True
        return self._any_readable()

    def _drained(self) -> bool:
        """After a busy turn: nothing queued, no socket readable (a handler's send may
        have consumed another socket's ZMQ_FD edge, so every one is asked)."""
        return (
            not self._cmds and not self._at_turn_end and self._running and not self._any_readable()
        )

    def _any_readable(self) -> bool:
        """A socket has a message to read (or cannot say: look anyway)."""
        for sock in self._sockets:
            try:
                if sock.getsockopt(zmq.EVENTS) & zmq.POLLIN:
                    return True
            except zmq.ZMQError:
                return True
        return False

    def _wake(self) -> None:
        if not self._signaled:
            self._signaled = True
            try:
                _raw_write(self._wfd, b"x")
            except (BlockingIOError, OSError):
                pass

    # -- loop-context only ------------------------------------------------
    def at_turn_end(self, fn: Callable[[], None]) -> None:
        """Run fn once when this turn's (or this run_now's) work is done, before the
        loop waits: a handler collects, fn sends what it collected."""
        self._at_turn_end[fn] = None

    def _end_turn(self) -> None:
        while self._at_turn_end:
            fns = list(self._at_turn_end)
            self._at_turn_end.clear()
            for fn in fns:
                try:
                    fn()
                except Exception:
                    LOG.exception("zmq I/O end-of-turn step failed")

    def call_later(self, delay: float, fn: Callable, *args) -> None:
        heapq.heappush(self._timers, (time.monotonic() + delay, next(self._seq), fn, args))

    def add_socket(self, sock: zmq.Socket, on_frames: Callable[[list[bytes]], None]) -> None:
        self._sockets[sock] = on_frames
        self._fd_list = None

    def remove_socket(self, sock: zmq.Socket, close: bool = True) -> None:
        self._sockets.pop(sock, None)
        self._fd_list = None
        fd = self._fd_of.pop(sock, None)
        if fd is not None and self._green_wait is not None:
            self._green_wait.forget(fd)  # before the close frees its number
        if close:
            sock.close(linger=0)

    # -- the loop ---------------------------------------------------------
    def _run_cmds(self) -> None:
        # Drain the pipe *before* clearing the flag: a caller that set the flag
        # and wrote after the drain is seen through its queued command below,
        # and any later caller finds the flag cleared and writes again.  A caller
        # sets the flag before it writes and only the loop clears it, after the
        # drain: with the flag clear, the pipe is empty (no read to try).
        if self._signaled:
            try:
                while _raw_read(self._rfd, 4096):
                    pass
            except (BlockingIOError, OSError):
                pass
            self._signaled = False
        for _unused in range(len(self._cmds)):
            fn, args = self._cmds.popleft()
            try:
                fn(*args)
            except Exception:
                LOG.exception("zmq I/O command failed")

    def _read_sockets(self) -> bool:
        busy = False
        for sock, on_frames in list(self._sockets.items()):
            for _unused in range(_MAX_BURST):
                if sock.closed or sock not in self._sockets:
                    break
                try:
                    if not sock.getsockopt(zmq.EVENTS) & zmq.POLLIN:
                        break
                    frames = sock.recv_multipart(_LAST)
                except zmq.Again:
                    break
                except zmq.ZMQError as exc:
                    LOG.debug("zmq recv error: %s", exc)
                    break
                busy = True
                try:
                    on_frames(frames)
                except Exception:
                    LOG.exception("zmq message handler failed")
        return busy

    def _run_timers(self) -> float | None:
        now = time.monotonic()
        while self._timers and self._timers[0][0] <= now:
            _when, _seq, fn, args = heapq.heappop(self._timers)
            try:
                fn(*args)
            except Exception:
                LOG.exception("zmq timer failed")
        if self._timers:
            return max(0.0, self._timers[0][0] - time.monotonic())
        return None

    def _fds(self) -> list[int]:
        """The wake pipe and every socket's ZMQ_FD (fixed for a socket's life: asked once)."""
        fds = self._fd_list
        if fds is None:
            fds = [self._rfd]
            for sock in self._sockets:
                fd = self._fd_of.get(sock)
                if fd is None:
                    try:
                        fd = self._fd_of[sock] = sock.getsockopt(zmq.FD)
                    except zmq.ZMQError:
                        continue
                fds.append(fd)
            self._fd_list = fds
        return fds

    def _waiter(self) -> Callable[[list[int], float], None]:
        """wait(fds, seconds) until a descriptor is readable."""
        if _eventlet_patched("select"):
            from oslo_messaging_zmq.greenwait import GreenWaiter

            waiter = self._green_wait = GreenWaiter()
            refused: list[str] = []

            def wait_green(current: list[int], timeout: float) -> None:
                try:
                    waiter.wait(current, timeout)
                except (OSError, ValueError, RuntimeError) as exc:
                    # a descriptor the hub refused: ask the sockets again, and turn
                    # every 10 ms meanwhile rather than wait for nothing
                    if str(exc) not in refused:
                        refused.append(str(exc))
                        LOG.warning("zmq I/O loop: the eventlet hub refused a descriptor: %s", exc)
                    self._fd_list = None
                    time.sleep(0.01)

            return wait_green
        poller = select.poll()
        registered: set[int] = set()
        last: list[list[int] | None] = [None]

        def wait_poll(current: list[int], timeout: float) -> None:
            if current is not last[0]:
                fds = set(current)
                for fd in registered - fds:
                    poller.unregister(fd)
                for fd in fds - registered:
                    poller.register(fd, select.POLLIN)
                registered.clear()
                registered.update(fds)
                last[0] = current
            try:
                poller.poll(int(timeout * 1000) + 1)
            except OSError:
                time.sleep(0.01)

        return wait_poll

    def _run(self) -> None:
        wait_for_fds = self._waiter()
        yield_to_hub = None
        if _eventlet_patched("thread"):
            import eventlet

            yield_to_hub = eventlet.sleep
        previous, allowed = time.monotonic(), 0.0
        self._turn.acquire()
        try:
            while self._running:
                now = time.monotonic()
                late = now - previous - allowed
                if late > STALL_MIN:
                    self.last_stall = (now, late)
                    LOG.warning("zmq I/O loop did not run for %.1f s", late)
                previous, allowed = now, 0.0
                self.turn_started = now
                self._run_cmds()
                wait = self._run_timers()
                self._end_turn()
                # read last: a send may consume the edge of ZMQ_FD, so EVENTS is
                # re-checked after every batch of sends before sleeping
                busy = self._read_sockets()
                if busy and yield_to_hub is not None and self._drained():
                    # green: waiting yields to the hub as well, and saves the turn that
                    # would follow the yield only to find nothing to do
                    busy = False
                    if self._timers:
                        wait = max(0.0, self._timers[0][0] - time.monotonic())
                if busy or self._cmds or self._at_turn_end or not self._running:
                    if yield_to_hub is not None:
                        self._turn.release()
                        try:
                            yield_to_hub(0)
                        finally:
                            self._turn.acquire()
                    continue
                if wait is None or wait > 1.0:
                    wait = 1.0
                allowed = wait
                fds = self._fds()
                self._parked_until = time.monotonic() + wait
                self._parked = True
                self._turn.release()
                try:
                    wait_for_fds(fds, wait)
                finally:
                    self._turn.acquire()
                    self._parked = False
        finally:
            self._running = False
            self._end_turn()  # collected answers go out before the sockets close
            for sock in list(self._sockets):
                self.remove_socket(sock)
            if self._green_wait is not None:
                self._green_wait.close()  # the pipe's listener, before its close
            for fd in (self._rfd, self._wfd):
                try:
                    os.close(fd)
                except OSError:
                    pass
            self._turn.release()
            self.context.term()
