"""Bare wire-protocol listeners that behave like the driver's RPC servers, many
per thread: the cheap listener kind of the scale simulation.

Each listener has its own routing id (``s`` + uuid4, as the driver's) and one
DEALER per proxy with the driver's socket options and CURVE keys; it sends a
full REGISTER of its one target ``(r, nova, compute, host-NNNN)`` to every
proxy at once and every heartbeat (1 s) — except, as the driver, to a proxy it
exchanged messages with both ways since the last heartbeat (at least every
PING_REFRESH heartbeats all the same) — answers every DELIVER it wants acked
with an end-to-end ACK "taken" through the proxy it came from *before* running
it (as oslo.messaging's RPC server acknowledges before dispatching), answers a
call with a REPLY, de-duplicates by message id (the driver's Deduplicator; a
copy already run is acknowledged again and a call's reply sent again), and on
a clean stop sends UNREGISTER to every proxy. What it does not do: the
driver's "waiting" reports, leases and thaw quarantine — it never queues a
message, it runs it at once on its one thread.

All sockets of a BareHub belong to its thread; other threads hand it start and
stop requests through a queue.
"""

from __future__ import annotations

import collections
import configparser
import heapq
import itertools
import json
import os
import queue
import random
import select
import threading
import time
import uuid
from collections.abc import Callable

import zmq

from oslo_messaging_zmq import security, wire
from oslo_messaging_zmq.dedup import Deduplicator
from oslo_messaging_zmq.links import PING_REFRESH

HEARTBEAT = 1.0  # the driver's default heartbeat_interval
# until a proxy answered, REGISTER again this often (the driver sends it when the
# connection's handshake succeeds; a send before that is dropped by ZMQ_IMMEDIATE)
FIRST_BEAT = 0.1
REPLIES_KEPT = 200  # per listener, to answer a re-sent call without running it again


def load_security(config_files: list[str]) -> tuple[str, dict[str, bytes], bytes | None]:
    """[oslo_messaging_zmq] security settings from the workers' option files."""
    parser = configparser.ConfigParser()
    parser.read(config_files)
    sec = parser["oslo_messaging_zmq"] if parser.has_section("oslo_messaging_zmq") else {}
    mode = sec.get("security_mode", "curve")
    if mode != "curve":
        return mode, {}, None
    client = security.read_key_file(sec["client_secret_key_file"])
    server = security.read_key_file(sec["server_public_key_file"])
    return mode, client, server["public"]


class BareListener:
    def __init__(self, host: str, endpoints: list[str], ctx: zmq.Context, sec: tuple) -> None:
        self.host = host
        self.identity = b"s" + uuid.uuid4().bytes
        self.register = wire.encode(
            wire.REGISTER, {wire.F_TARGETS: [[wire.RPC, "nova", "compute", host]]}
        )
        self.dedup = Deduplicator(300.0, 200000)  # the driver's defaults
        self.replies: collections.OrderedDict[str, list[bytes]] = collections.OrderedDict()
        self.socks: list[zmq.Socket] = []
        mode, client_keys, server_public = sec
        for endpoint in endpoints:
            sock = ctx.socket(zmq.DEALER)
            sock.setsockopt(zmq.ROUTING_ID, self.identity)
            sock.setsockopt(zmq.LINGER, 0)
            sock.setsockopt(zmq.SNDHWM, 10000)
            sock.setsockopt(zmq.RCVHWM, 10000)
            sock.setsockopt(zmq.RECONNECT_IVL, 100)
            sock.setsockopt(zmq.RECONNECT_IVL_MAX, 1000)
            sock.setsockopt(zmq.IMMEDIATE, 1)
            if mode == "curve":
                security.configure_client(sock, client_keys, server_public)
            sock.connect(endpoint)
            self.socks.append(sock)
        self.answered: set[zmq.Socket] = set()  # proxies that answered a REGISTER
        # per socket: last DELIVER received, last answer sent, last REGISTER sent
        self.heard = dict.fromkeys(self.socks, 0.0)
        self.told = dict.fromkeys(self.socks, 0.0)
        self.pinged = dict.fromkeys(self.socks, 0.0)
        self.next_beat = 0.0
        self.scheduled = -1.0  # the beat the hub has queued for this listener

    def beat(self, now: float) -> None:
        since = now - HEARTBEAT
        for sock in self.socks:
            carried = self.heard[sock] > since and self.told[sock] > since
            if carried and now - self.pinged[sock] < PING_REFRESH * HEARTBEAT:
                continue  # the driver's links.ProxyLinks._carried
            self.pinged[sock] = now
            _send(sock, self.register)
        waiting = len(self.answered) < len(self.socks)
        self.next_beat = now + (FIRST_BEAT if waiting else HEARTBEAT)

    def on_frames(self, sock: zmq.Socket, frames: list[bytes], run: Callable) -> None:
        try:
            mtype, header, body = wire.decode(frames)
        except wire.WireError:
            return
        if mtype == wire.PONG and sock not in self.answered:
            self.answered.add(sock)
            if len(self.answered) == len(self.socks):
                # registered everywhere: later beats at a random phase, as listeners
                # started one after another
                self.next_beat = time.monotonic() + random.uniform(0.0, HEARTBEAT)
        if mtype != wire.DELIVER or body is None:
            return  # PONG, STATUS
        msg_id, sender = header.get(wire.F_ID), header.get(wire.F_FROM)
        if not isinstance(msg_id, str) or not isinstance(sender, str):
            return
        self.heard[sock] = self.told[sock] = time.monotonic()  # it is answered below
        if header.get(wire.F_ACK):
            ack = {wire.F_ID: msg_id, wire.F_TO: sender, wire.F_STATE: wire.TAKEN}
            for key in (wire.F_TRY, wire.F_COPIES):
                if header.get(key) is not None:
                    ack[key] = header[key]
            _send(sock, wire.encode(wire.ACK, ack))
        if self.dedup.seen(msg_id):
            cached = self.replies.get(msg_id)
            if cached is not None:
                _send(sock, cached)
            return
        payload = json.loads(body)
        msg = payload.get(wire.B_MESSAGE) or {}
        result = run(self.host, msg.get("method"), msg.get("args") or {})
        if header.get(wire.F_CALL):
            reply = json.dumps({"result": result, "failure": None}).encode()
            frames = wire.encode(wire.REPLY, {wire.F_ID: msg_id, wire.F_TO: sender}, reply)
            self.replies[msg_id] = frames
            if len(self.replies) > REPLIES_KEPT:
                self.replies.popitem(last=False)
            _send(sock, frames)

    def close(self) -> None:
        """A clean stop: UNREGISTER on every proxy, then close (what is unread is lost and
        sent again by its senders, as with the driver)."""
        frames = wire.encode(wire.UNREGISTER, {})
        for sock in self.socks:
            _send(sock, frames)
            sock.close(linger=500)


def _send(sock: zmq.Socket, frames: list[bytes]) -> None:
    try:
        sock.send_multipart(frames, zmq.NOBLOCK)
    except zmq.ZMQError:
        pass  # HWM reached or no connection yet: the peer re-sends, the next beat re-registers


class BareHub:
    """One thread running many bare listeners of one process.

    It waits with epoll on the sockets' ZMQ_FD, so a turn costs what is ready, not
    what is open (zmq_poll over 200 sockets per message made the listener side
    slower at 1,000 listeners than at 10). ZMQ_FD only says "look at ZMQ_EVENTS":
    a socket is drained until it has nothing to read, a socket sent on is looked
    at again in the next turn, and every socket once a second.
    """

    def __init__(self, endpoints: list[str], config_files: list[str], fd: int) -> None:
        self.endpoints = endpoints
        self.sec = load_security(config_files)
        self.fd = fd
        self.ctx = zmq.Context()
        self.listeners: dict[str, BareListener] = {}
        self.by_fd: dict[int, tuple[BareListener, zmq.Socket]] = {}
        self.epoll = select.epoll()
        self.recheck: set[tuple[BareListener, zmq.Socket]] = set()
        # each listener's next REGISTER, sent on its own: the proxies see them spread
        # over the second as from independent services, not in bursts
        self.beats: list[tuple[float, int, BareListener]] = []
        self.seq = itertools.count()
        self.requests: queue.SimpleQueue = queue.SimpleQueue()
        self._wake_r, self._wake_w = os.pipe()  # a request wakes the hub out of epoll
        os.set_blocking(self._wake_r, False)
        self.epoll.register(self._wake_r, select.EPOLLIN)
        threading.Thread(target=self._run, name="bare-hub", daemon=True).start()

    # -- any thread -------------------------------------------------------------
    def _request(self, op: str, host: str) -> None:
        done = threading.Event()
        self.requests.put((op, host, done))
        os.write(self._wake_w, b"x")
        done.wait(30)

    def start(self, host: str) -> None:
        self._request("start", host)

    def stop(self, host: str) -> None:
        self._request("stop", host)

    # -- hub thread -------------------------------------------------------------
    def _execute(self, host: str, method: str | None, args: dict) -> str | None:
        if method == "record":
            line = f"{args['mid']} {host} {time.monotonic():.6f} {float(args['ts']):.6f}\n"
            os.write(self.fd, line.encode())
            return None
        return host  # ping

    def _handle(self, op: str, host: str) -> None:
        if op == "start":
            listener = BareListener(host, self.endpoints, self.ctx, self.sec)
            self.listeners[host] = listener
            for sock in listener.socks:
                fd = sock.getsockopt(zmq.FD)
                self.by_fd[fd] = (listener, sock)
                self.epoll.register(fd, select.EPOLLIN)
            self._beat(listener, time.monotonic())
        else:
            listener = self.listeners.pop(host)
            for sock in listener.socks:
                fd = sock.getsockopt(zmq.FD)
                self.epoll.unregister(fd)
                del self.by_fd[fd]
                self.recheck.discard((listener, sock))
            listener.close()

    def _beat(self, listener: BareListener, now: float) -> None:
        listener.beat(now)
        self.recheck.update((listener, sock) for sock in listener.socks)
        self._schedule(listener)

    def _schedule(self, listener: BareListener) -> None:
        if listener.scheduled != listener.next_beat:
            listener.scheduled = listener.next_beat
            heapq.heappush(self.beats, (listener.next_beat, next(self.seq), listener))

    def _due_beats(self, now: float) -> None:
        beats = self.beats
        while beats and beats[0][0] <= now:
            when, _seq, listener = heapq.heappop(beats)
            if when == listener.scheduled and self.listeners.get(listener.host) is listener:
                self._beat(listener, now)

    def _drain(self, listener: BareListener, sock: zmq.Socket) -> bool:
        """Read what sock has (at most a burst); True when it may have more."""
        for _unused in range(100):
            if not sock.getsockopt(zmq.EVENTS) & zmq.POLLIN:
                return False
            try:
                frames = sock.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return False
            listener.on_frames(sock, frames, self._execute)
        return True

    def _run(self) -> None:
        next_full = 0.0
        while True:
            while True:
                try:
                    op, host, done = self.requests.get_nowait()
                except queue.Empty:
                    break
                self._handle(op, host)
                done.set()
            if not self.by_fd:
                timeout = -1.0  # nothing to do until a request comes
            elif self.recheck:
                timeout = 0.0
            else:
                first = self.beats[0][0] if self.beats else time.monotonic() + 1.0
                timeout = min(1.0, max(0.0, first - time.monotonic()))
            events = self.epoll.poll(timeout)
            ready = {self.by_fd[fd] for fd, _ev in events if fd in self.by_fd}
            if any(fd == self._wake_r for fd, _ev in events):
                try:
                    while os.read(self._wake_r, 4096):
                        pass
                except BlockingIOError:
                    pass
            ready |= self.recheck
            self.recheck = set()
            for listener, sock in ready:
                if self._drain(listener, sock):
                    self.recheck.add((listener, sock))  # the rest in the next turn
                self._schedule(listener)  # a PONG may have moved its next beat
            now = time.monotonic()
            self._due_beats(now)
            if now >= next_full:  # a safety net: every socket once a second
                next_full = now + 1.0
                self.recheck.update(self.by_fd.values())
