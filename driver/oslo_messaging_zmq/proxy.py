"""oslo-messaging-zmq-proxy: a stateless ROUTER that routes between clients and listeners.

Run several side by side (each listed in the transport URL).  They share no
state: listeners register with every proxy, senders pick one live proxy per
message.  See driver/README.md for the protocol, the options, /metrics and /stats.
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import random
import signal
import sys
import time

import zmq
from oslo_config import cfg
from zmq.utils import monitor as zmq_monitor
from zmq.utils import z85

from oslo_messaging_zmq import acl, options, security, wire
from oslo_messaging_zmq.health import HealthServer
from oslo_messaging_zmq.ioloop import send_frames
from oslo_messaging_zmq.routing import (
    ANY_POOL,
    AnswerBook,
    ConfirmMemory,
    Counters,
    Held,
    HoldStore,
    ResendBook,
    RoutingTable,
    hold_keys_for,
)

LOG = logging.getLogger("oslo_messaging_zmq.proxy")

ZAP_ENDPOINT = "inproc://zeromq.zap.01"
_MAINTENANCE_INTERVAL = 0.25
# allowed_clients: its mtime is checked this often (one stat), its files all
# re-read this often anyway (an edit in place does not touch the directory)
_KEY_CHECK_INTERVAL = 0.25
_KEY_RELOAD_INTERVAL = 30.0
_LOG_EVERY = 60.0
_MAX_BURST = 2000
_MAX_CLIENTS = 100000
_MAX_LABELS = 10000
_MAX_ANSWERS = 200000  # deliveries whose answer the proxy awaits (CURVE)
_SENT, _BUSY, _GONE = 0, 1, 2
_NOBLOCK = int(zmq.NOBLOCK)
_EVENTS = int(zmq.EVENTS)
_POLLIN = int(zmq.POLLIN)
_PONG = wire.encode(wire.PONG, {wire.F_CONFIRM: 1})  # this proxy confirms "taken" ACKs
# A "taken" is late when the listener's silence here plus the message's age
# there come this close to peer_timeout (transit, maintenance granularity)
_LATE_MARGIN = 0.5
# After a stall of this proxy longer than this, the "taken" ACKs that waited in its
# sockets are refused until it read them all, and for at least _THAW_REFUSAL s
_STALL_REFUSE = 2.0  # below the listeners' proxy_timeout (3 s), after which they ask another
_THAW_REFUSAL = 1.0
# verdicts go out at least every this many messages of a receive burst (a burst
# of a busy proxy lasts tens of ms; a worker waits for its verdict)
_VERDICTS_EVERY = 32
_CONFIRMS_KEPT = 300.0  # s a proxy remembers what it confirmed to a listener it lost
_MAX_CONFIRMS_KEPT = 200000
_RESENDS_KEPT = 60.0  # s a proxy remembers where it routed a cast sent again
_MAX_RESENDS_KEPT = 100000


def zmtp_heartbeat(peer_timeout: float) -> tuple[float, float]:
    """ZMTP ping interval and timeout of the proxy's connections, in seconds.

    They only close a connection that died silently, to free its routing id: the
    routing table forgets a silent listener after peer_timeout by itself.  libzmq
    arms the timeout with a ping and disarms it with whatever comes in, so a silent
    connection closes between timeout and interval + timeout after its last message:
    never before the table forgets the peer.  Every ping is a message each way on
    every connection (1,000 listeners: 2,000 CURVE messages/s per proxy at a 1 s
    interval), hence one every peer_timeout/2 rather than every second.
    """
    timeout = max(peer_timeout, 1.0)
    return max(timeout / 2, 0.5), timeout


class Proxy:
    def __init__(self, opts) -> None:
        self.opts = opts
        self.counters = Counters(opts.max_tracked_targets)
        self._totals = self.counters.total  # the per-message counters, without a call
        self._labels: dict[tuple[str, str, str], str] = {}  # metric label of each target
        self.table = RoutingTable()
        self.holds = HoldStore(opts.hold_max_messages, opts.hold_max_bytes)
        self.clients: dict[bytes, float] = {}
        self.started = time.time()
        self.snapshot: dict = {}
        self._stop = False
        # admitted client keys (Z85 text, as libzmq's User-Id) and who uses which
        self._allowed: dict[str, security.AllowedKey] = {}
        self._allowed_mtime: int | None = None
        self._key_errors: set[str] = set()
        self._owner: dict[bytes, str] = {}  # routing id -> the key that first used it
        # connection (fd) each bound routing id was last seen on, to detach it
        # when that connection closes; detached ids keep their key for a while
        self._fd_of: dict[bytes, int] = {}
        self._on_fd: dict[int, set[bytes]] = {}
        self._detached: dict[bytes, tuple[str, float]] = {}
        self.monitor: zmq.Socket | None = None
        self._identity_logged: dict[bytes, float] = {}
        self._revoked_logged: dict[str, float] = {}
        self._reply_logged: dict[bytes, float] = {}
        self._late_logged: dict[bytes, float] = {}
        self.answers = AnswerBook(_MAX_ANSWERS)
        # read once: an option lookup costs more than the rest of an answer's check
        self._answer_times = (float(opts.hold_ttl), float(opts.peer_timeout))
        peer_timeout = float(opts.peer_timeout)
        self._late_after = peer_timeout - min(_LATE_MARGIN, peer_timeout / 10)
        # verdicts on "taken" ACKs not sent yet: listener -> message ids
        self._verdicts: dict[str, dict[bytes, list[str]]] = {wire.CONFIRMED: {}, wire.REFUSED: {}}
        self._verdicts_due = False
        self._thawed = (False, 0.0)  # (backlog not read yet, refusing until) after a stall
        self.confirms = ConfirmMemory(peer_timeout + 2.0, _CONFIRMS_KEPT, _MAX_CONFIRMS_KEPT)
        self.resends = ResendBook(_RESENDS_KEPT, _MAX_RESENDS_KEPT)
        self._acl_logged: dict[tuple, float] = {}
        self._former_names: dict[str, str] = {}  # revoked key -> its file's name
        self._reload_keys = False
        self._denied_logged: dict[bytes, float] = {}
        self._version_logged = -1e9
        # the last time the main loop read the clock (see _clock)
        self._last_clock = time.monotonic()
        self.ctx = zmq.Context(io_threads=opts.io_threads)
        self.zap: zmq.Socket | None = None
        self.router = self.ctx.socket(zmq.ROUTER)
        self.endpoint = ""
        self.core = None  # the native core (_core.Core) once bound, when it runs

    # -- setup -----------------------------------------------------------------
    def bind(self) -> None:
        opts = self.opts
        router = self.router
        router.setsockopt(zmq.ROUTER_MANDATORY, 1)
        # With CURVE a routing id belongs to the connection that holds it: no
        # handover, so another key cannot take over a connected peer's id (and
        # with it the peer's deliveries).  ZMTP heartbeats free the id of a
        # peer whose connection died silently, so it can come back.
        curve = opts.security_mode == "curve"
        router.setsockopt(zmq.ROUTER_HANDOVER, 0 if curve else 1)
        ivl, timeout = zmtp_heartbeat(opts.peer_timeout)
        router.setsockopt(zmq.HEARTBEAT_IVL, int(ivl * 1000))
        router.setsockopt(zmq.HEARTBEAT_TIMEOUT, int(timeout * 1000))
        router.setsockopt(zmq.LINGER, 0)
        router.setsockopt(zmq.SNDHWM, opts.socket_hwm)
        router.setsockopt(zmq.RCVHWM, opts.socket_hwm)
        router.setsockopt(zmq.MAXMSGSIZE, opts.max_message_size)
        if opts.security_mode == "curve":
            if not opts.server_secret_key_file:
                raise SystemExit("[zmq_proxy] security_mode=curve needs server_secret_key_file")
            keys = security.read_key_file(opts.server_secret_key_file)
            if "secret" not in keys:
                raise SystemExit("%s holds no secret key" % opts.server_secret_key_file)
            if not opts.allowed_clients:
                LOG.warning("no allowed_clients configured: every CURVE client is refused")
            self._load_allowed(force=True)
            self.zap = self.ctx.socket(zmq.REP)
            self.zap.setsockopt(zmq.LINGER, 0)
            self.zap.bind(ZAP_ENDPOINT)
            security.configure_server(router, keys)
            self.monitor = router.get_monitor_socket(zmq.EVENT_DISCONNECTED)
        else:
            LOG.warning("security_mode=plain: no authentication, no encryption")
        host = opts.bind_address
        if ":" in host and not host.startswith("["):
            host = "[%s]" % host
            router.setsockopt(zmq.IPV6, 1)
        router.bind("tcp://%s:%d" % (host, opts.port))
        self.endpoint = router.getsockopt(zmq.LAST_ENDPOINT).decode()
        self.core = self._native_core()
        LOG.info(
            "zmq proxy listening on %s (security_mode=%s, core=%s)",
            self.endpoint,
            opts.security_mode,
            "native" if self.core is not None else "python",
        )

    def _native_core(self):
        """The compiled per-message path (option core), on this proxy's state; None: Python."""
        if self.opts.core == "python":
            return None
        module = load_native_core()
        if module is None:
            if self.opts.core == "native":
                raise SystemExit(
                    "[zmq_proxy] core=native, but oslo_messaging_zmq._core is not built: "
                    "reinstall the driver where a C compiler and Python's headers are"
                )
            return None
        floor, slack = self._answer_times
        return module.Core(
            self, self.router.underlying, self.zap is not None, floor, slack, _MAX_CLIENTS, _PONG[0]
        )

    # -- security -----------------------------------------------------------------
    def _load_allowed(self, force: bool = False) -> None:
        path = self.opts.allowed_clients
        if not path:
            self._allowed = {}
            return
        try:
            mtime = os.stat(path).st_mtime_ns
        except OSError as exc:
            if force:
                LOG.error("allowed_clients %s unreadable: %s", path, exc)
            return
        if not force and mtime == self._allowed_mtime:
            return
        try:
            keys, errors = security.read_allowed_clients(path)
        except security.KeyFileError as exc:
            LOG.error("%s", exc)
            return
        for error in errors:
            if error not in self._key_errors:
                LOG.error("allowed_clients: %s; that key file is skipped", error)
        self._key_errors = set(errors)
        # a change within the file system's time granularity of this read
        # would keep the same mtime: read again until the mtime is older
        settled = time.time_ns() - mtime > 2_000_000_000
        self._allowed_mtime = mtime if settled else None
        if keys != self._allowed:
            LOG.info("loaded %d allowed client keys from %s", len(keys), path)
            full = sorted(e.name for e in keys.values() if e.permissions is None)
            if full:
                LOG.info(
                    "%d client keys carry no listen/send metadata and keep every right: %s",
                    len(full),
                    ", ".join(full[:20]) + (", …" if len(full) > 20 else ""),
                )
        old, self._allowed = self._allowed, keys
        if keys != old:
            # a key's rights may have changed: each listener's next REGISTER is judged again
            for peer in self.table.peers.values():
                peer.registration = None
        revoked = {key: entry for key, entry in old.items() if key not in keys}
        if revoked:
            self._revoke(revoked)

    def _revoke(self, revoked: dict[str, security.AllowedKey]) -> None:
        """Keys left the allowed set: their open sessions end now, not at their next handshake.

        Every routing id bound to them leaves all its targets and loses its
        binding, what it sent and the proxy still holds is dropped, and its
        next messages meet _refuse_revoked (libzmq cannot close one ROUTER
        peer's connection, so the proxy answers it instead of serving it).
        """
        now = time.monotonic()
        bound = {i: key for i, key in self._owner.items() if key in revoked}
        bound.update((i, key) for i, (key, _w) in self._detached.items() if key in revoked)
        for ident in bound:
            self._detach(ident, now)
            self._detached.pop(ident, None)
        for key, _held in self.holds.drop_senders(set(bound)):
            self.counters.inc("dropped", wire.target_label(key[0], key[1], key[2]))
        if len(self._former_names) > 10000:
            self._former_names.clear()
        self._former_names.update((key, entry.name) for key, entry in revoked.items())
        for key, entry in revoked.items():
            LOG.warning(
                "key %s revoked: its %d open sessions are refused from now on",
                entry.name,
                sum(1 for k in bound.values() if k == key),
            )

    def _handle_zap(self) -> None:
        while True:
            try:
                frames = self.zap.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            if len(frames) < 6:
                # REP must answer something to stay in sync
                self.zap.send_multipart([b"1.0", b"", b"500", b"bad request", b"", b""])
                continue
            request_id, address, mechanism = frames[1], frames[3], frames[5]
            key = b""
            if mechanism == b"CURVE" and len(frames) > 6 and len(frames[6]) == 32:
                key = z85.encode(frames[6])
            if key and key.decode() in self._allowed:
                self.counters.inc("auth_allowed")
                reply = [b"1.0", request_id, b"200", b"OK", key, b""]
            else:
                self.counters.inc("auth_denied")
                now = time.monotonic()
                if now - self._denied_logged.get(key, -1e9) > 60:
                    if len(self._denied_logged) > 10000:
                        self._denied_logged.clear()
                    self._denied_logged[key] = now
                    LOG.warning(
                        "refused client %s with unknown CURVE key %s",
                        address.decode(errors="replace"),
                        key.decode() or "-",
                    )
                reply = [b"1.0", request_id, b"400", b"unknown client key", b"", b""]
            self.zap.send_multipart(reply)

    # -- sending -------------------------------------------------------------------
    def _send(self, ident: bytes, frames: list[bytes]) -> bool:
        return self._try_send(ident, frames) == _SENT

    def _try_send(self, ident: bytes, frames: list[bytes]) -> int:
        """_SENT, _BUSY (peer's queue full: back-pressure) or _GONE (no such peer)."""
        try:
            send_frames(self.router, [ident, *frames])
            return _SENT
        except zmq.Again:
            return _BUSY
        except zmq.ZMQError as exc:
            if exc.errno == errno.EHOSTUNREACH:
                return _GONE
            raise

    def _status(self, ident: bytes, msg_id: str, status: str, why: str | None = None) -> None:
        header = {wire.F_ID: msg_id, wire.F_STATUS: status}
        if why:
            header[wire.F_WHY] = why
        self._send(ident, wire.encode(wire.STATUS, header))

    # -- message handling ----------------------------------------------------------
    def _receive(self) -> bool:
        """Read and handle one message from the ROUTER; False when none is waiting."""
        router = self.router
        # asking is cheaper than the exception a read of an empty socket raises
        if not router.getsockopt(_EVENTS) & _POLLIN:
            return False
        try:
            if self.zap is None:
                self.handle(router.recv_multipart(_NOBLOCK))
                return True
            first = router.recv(_NOBLOCK, copy=False)
        except zmq.Again:
            return False
        frames = [first.bytes]
        if first.more:
            frames.extend(router.recv_multipart(_NOBLOCK))
        # the CURVE key libzmq authenticated this connection with (the ZAP user id)
        self.handle(frames, first.get("User-Id"), first)
        return True

    def handle(self, frames: list[bytes], user: str | None = None, frame=None) -> None:
        """One message from a peer: [routing id, message]; user is its connection's
        CURVE key (None: plain).

        frame: the zmq.Frame of the routing id, or the connection's fd it tells."""
        self._totals["received"] += 1
        if len(frames) < 2 or not frames[0] or len(frames[0]) > 255:
            self.counters.inc("malformed")
            return
        ident = bytes(frames[0])
        if user is not None and self._owner.get(ident) != user:
            if not self._bind(ident, user, frame, frames):
                return
        try:
            mtype, header, body = wire.decode(frames[1:])
            self._dispatch(ident, mtype, header, body, frames[1])
        except wire.WireError:
            self.counters.inc("malformed")
            self._check_version(ident, frames[1:])

    def _bind(self, ident: bytes, user: str, frame=None, frames=()) -> bool:
        """Bind a routing id to the key that first uses it; refuse it to any other key.

        The binding lasts while the proxy knows the peer (a client's pings, a
        listener's registrations) and is forgotten with it (see maintenance).
        A peer whose connection closed is detached: nothing is sent to its id
        until it speaks again, with the same key, on its new connection.
        """
        if user not in self._allowed:
            self._refuse_revoked(ident, user, frames)
            return False
        owner = self._owner.get(ident)
        if owner is None:
            owner = self._detached.get(ident, (user, 0.0))[0]
        if owner == user:
            self._detached.pop(ident, None)
            self._owner[ident] = user
            if frame is None:
                fd = -1
            else:
                fd = frame if isinstance(frame, int) else frame.get(zmq.SRCFD)
            old = self._fd_of.get(ident)
            if old is not None and old != fd:
                self._on_fd.get(old, set()).discard(ident)
            self._fd_of[ident] = fd
            self._on_fd.setdefault(fd, set()).add(ident)
            return True
        self.counters.inc("identity_denied")
        if _log_due(self._identity_logged, ident):
            LOG.warning(
                "refused routing id %s to key %s: it is bound to key %s; its messages are dropped",
                ident.hex()[:12],
                self._key_name(user),
                self._key_name(owner),
            )
        return False

    def _permissions(self, ident: bytes) -> acl.Permissions | None:
        """What the key behind ident may do (None: everything, or plain mode)."""
        entry = self._allowed.get(self._owner.get(ident))
        return None if entry is None else entry.permissions

    def _permitted_targets(self, ident: bytes, perms: acl.Permissions, targets: list) -> list:
        """The targets of a REGISTER the key may listen on; the others are refused."""
        permitted = [t for t in targets if perms.may_listen(t)]
        if len(permitted) < len(targets):
            for target in targets:
                if not perms.may_listen(target):
                    kind, exchange, topic, extra = target
                    label = wire.target_label(kind, exchange, topic)
                    name = acl.target_name(*target)
                    if self._deny(ident, label, "listen on", name):
                        # tell the listener too (it logs it): it would wait in silence
                        why = "%s: listen on %s" % (wire.NOT_PERMITTED, name)
                        self._status(ident, "", wire.DROPPED, why)
        return permitted

    def _deny(self, ident: bytes, label: str, what: str, name: str) -> bool:
        """Count a refusal by the key's permissions; True when it was logged (once a minute)."""
        self.counters.inc("acl_denied", label)
        if _log_due(self._acl_logged, (ident, what, name)):
            key = self._owner.get(ident, "")
            LOG.warning(
                "refused routing id %s (key %s) to %s %s: not permitted by its key file",
                ident.hex()[:12],
                self._key_name(key),
                what,
                name,
            )
            return True
        return False

    def _refuse_revoked(self, ident: bytes, user: str, frames) -> None:
        """A message on a session whose key is no longer allowed: refused, and said so."""
        self.counters.inc("revoked")
        if _log_due(self._revoked_logged, user):
            LOG.warning(
                "refused a message of routing id %s: its key %s was revoked",
                ident.hex()[:12],
                self._former_names.get(user, user[:8] + "…"),
            )
        try:
            mtype, header, _body = wire.decode(frames[1:])
        except wire.WireError:
            return
        msg_id = header.get(wire.F_ID) if mtype == wire.SEND else ""
        if isinstance(msg_id, str):
            self._status(ident, msg_id, wire.DROPPED, wire.KEY_REVOKED)

    def _handle_monitor(self) -> None:
        """A connection closed: the routing ids bound on it are detached."""
        while True:
            try:
                frames = self.monitor.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            try:
                event = zmq_monitor.parse_monitor_message(frames)
            except Exception:  # noqa: BLE001 - not an event: ignore
                continue
            if event["event"] != zmq.EVENT_DISCONNECTED:
                continue
            now = time.monotonic()
            for ident in self._on_fd.pop(int(event["value"]), ()):
                self._detach(ident, now)

    def _detach(self, ident: bytes, now: float) -> None:
        key = self._owner.pop(ident, None)
        self._fd_of.pop(ident, None)
        if key is not None:
            self._detached[ident] = (key, now)
        if self.table.unregister(ident, now) is not None:
            self.confirms.lost(ident, now)
            LOG.info("listener %s disconnected", ident.hex()[:12])
        self.clients.pop(ident, None)

    def _key_name(self, key: str) -> str:
        entry = self._allowed.get(key)
        return entry.name if entry is not None else "%s… (not allowed)" % key[:8]

    def _check_version(self, ident: bytes, frames: list[bytes]) -> None:
        """Say so when a peer speaks another version of the protocol (a half-done upgrade)."""
        version = wire.version_of(frames)
        now = time.monotonic()
        if version in (None, wire.VERSION) or now - self._version_logged < 60:
            return
        self._version_logged = now
        LOG.error(
            "peer %s speaks zmq protocol version %d, this proxy version %d: upgrade the driver "
            "of every service together with the proxies; its messages are dropped",
            ident.hex()[:12],
            version,
            wire.VERSION,
        )

    def _dispatch(
        self, ident: bytes, mtype: bytes, header: dict, body: bytes | None, frame: bytes = b""
    ) -> None:
        now = time.monotonic()
        # the per-message types first
        if mtype == wire.SEND:
            # a sender is alive: its binding must outlive its pings (the answers
            # to its calls are only let through to a peer the proxy knows)
            clients = self.clients
            if ident in clients or len(clients) < _MAX_CLIENTS:
                clients[ident] = now
            self._route(ident, header, body, now)
        elif mtype == wire.REPLY or mtype == wire.ACK:
            self._relay(ident, mtype, header, body, now)
        elif mtype == wire.HELLO:
            if ident in self.clients or len(self.clients) < _MAX_CLIENTS:
                self.clients[ident] = now
            self._send(ident, _PONG)
        elif mtype == wire.REGISTER:
            self._register(ident, header, frame, now)
        elif mtype == wire.UNREGISTER:
            if self.table.unregister(ident, now) is not None:
                self.confirms.lost(ident, now)
                LOG.info("listener %s unregistered", ident.hex()[:12])
        else:
            raise wire.WireError("unexpected type")

    def _register(self, ident: bytes, header: dict, frame: bytes, now: float) -> None:
        targets = wire.parse_targets(header)
        asked = len(targets)
        perms = self._permissions(ident)
        if perms is not None:
            targets = self._permitted_targets(ident, perms, targets)
        known = ident in self.table.peers
        new = self.table.register(ident, targets, now)
        # refused targets are counted and said at each REGISTER: not the core's to repeat
        self.table.peers[ident].registration = bytes(frame) if len(targets) == asked else None
        if not known:
            LOG.info("listener %s registered %d targets", ident.hex()[:12], len(targets))
        self._send(ident, _PONG)
        for target in new:
            self._flush_holds(ident, target)

    def _relay(self, ident, mtype, header, body, now) -> None:
        msg_id = wire.get_str(header, wire.F_ID)
        dest = wire.get_ident(header, wire.F_TO)
        ids = wire.get_ids(header) if mtype == wire.ACK else None
        out = {wire.F_ID: msg_id}
        asked = late = False  # the listener waits for a verdict; it is "refused"
        if mtype == wire.REPLY:
            final = not header.get(wire.F_HB)
        else:
            state = header.get(wire.F_STATE, wire.TAKEN)
            if state not in wire.ACK_STATES:
                raise wire.WireError("bad state")
            asked = state == wire.TAKEN and ids is None and bool(header.get(wire.F_CONFIRM))
            if asked and header.get(wire.F_AGAIN) and self.confirms.confirmed(ident, msg_id):
                # asked again, its confirmation lost (the listener was forgotten here
                # right after): the same answer; its sender was told already
                self.table.touch(ident, now)
                self.counters.inc("confirmed_again")
                self._verdict(ident, msg_id, wire.CONFIRMED, now)
                return
            if asked and (
                self._resent_elsewhere(ident, msg_id, now) or self._late(ident, header, now)
            ):
                state = wire.RELEASED  # the sender sends it again; the listener will not run it
                late = True
            final = state == wire.TAKEN
        # a listener's answers keep it registered (it skips its REGISTERs while
        # it answers), even one that is refused below
        self.table.touch(ident, now)
        if self.zap is not None:
            ids = self._answerable(ident, mtype, msg_id, ids, dest, final, now)
            if ids is False:
                if asked:
                    # not relayed (this proxy did not deliver it: a listener asking again
                    # after its proxy went away), judged all the same: the proxy that did
                    # may have confirmed it, and the sender hears "taken" from the listener
                    # when it sends the message again
                    self._verdict(ident, msg_id, wire.REFUSED if late else wire.CONFIRMED, now)
                return
        if mtype == wire.REPLY:
            if header.get(wire.F_HB):
                out[wire.F_HB] = 1
            self.counters.inc("replies")
        else:
            out[wire.F_STATE] = state
            out[wire.F_BY] = ident.hex()
            if ids is not None:
                out[wire.F_IDS] = ids
            for key in (wire.F_TRY, wire.F_COPIES, wire.F_BATCH):
                value = header.get(key)
                if isinstance(value, int) and not isinstance(value, bool):
                    out[key] = value
            self.counters.inc("acks")
        self._send(dest, wire.encode(mtype, out, body))
        if asked:
            # confirmed even when the sender is gone: nobody else will be given it
            self._verdict(ident, msg_id, wire.REFUSED if late else wire.CONFIRMED, now)

    def _resent_elsewhere(self, ident: bytes, msg_id: str, now: float) -> bool:
        """Did this proxy route a copy sent again to another listener?  Its sender
        sent it again (its proxy went away before the "taken" reached it) and the
        other listener may run it: this one must not."""
        other = self.resends.routed_to(msg_id, now)
        if other is None or other == ident:
            return False
        self.counters.inc("refused_resent")
        LOG.debug(
            "refused 'taken' of %s from %s: sent again to %s",
            msg_id,
            ident.hex()[:12],
            other.hex()[:12],
        )
        return True

    def _late(self, ident: bytes, header: dict, now: float) -> bool:
        """Could another proxy have forgotten this listener, and routed the message
        elsewhere, before this "taken" reaches its sender?

        Proxies forget a listener silent for peer_timeout.  The silence here
        covers the time the ACK spent queued in the listener's sockets (a
        frozen process sends nothing, and its queue drains in order after the
        thaw); the age the listener reports covers its I/O loop standing still
        before it sent the ACK (listener._standstill).  Another proxy may have
        heard from the listener up to one heartbeat interval (beat) earlier."""
        peer = self.table.peers.get(ident)
        backlog, until = self._thawed
        if peer is None:
            late = True  # forgotten here already (or never registered)
        elif backlog or now < until:
            # it waited here while this proxy was stalled: its listener may have sent
            # it again through another proxy (a refusal here agrees with either verdict
            # there; a confirmation would contradict a refusal)
            late = True
        else:
            silent = max(now - peer.last_seen, wire.get_num(header, wire.F_AGE))
            late = silent + wire.get_num(header, wire.F_BEAT) > self._late_after
        if late:
            self.counters.inc("refused_late")
            if _log_due(self._late_logged, ident):
                LOG.warning(
                    "refused a late 'taken' from listener %s about message %s (its process was "
                    "silent for about peer_timeout %.1f s, or this proxy was stalled: frozen?); "
                    "its sender will send the message again",
                    ident.hex()[:12],
                    header.get(wire.F_ID),
                    self.opts.peer_timeout,
                )
        return late

    def _verdict(self, ident: bytes, msg_id: str, verdict: str, now: float) -> None:
        book = self._verdicts[verdict]
        pending = book.get(ident)
        if pending is None:
            book[ident] = [msg_id]
        else:
            pending.append(msg_id)
        self._verdicts_due = True
        if verdict == wire.CONFIRMED:
            self.counters.inc("confirmed")
            self.confirms.add(ident, msg_id, now)

    def flush_verdicts(self) -> None:
        """Answer the "taken" ACKs relayed since the last flush, one CONFIRM per listener
        and verdict.  A verdict is never dropped while its listener is connected: the
        sender was told already, and the listener waits for it (a full queue to the
        listener keeps it for the next flush)."""
        self._verdicts_due = False
        for verdict, book in self._verdicts.items():
            if not book:
                continue
            for ident, ids in list(book.items()):
                while ids:
                    header = {wire.F_IDS: ids[: wire.MAX_IDS], wire.F_VERDICT: verdict}
                    result = self._try_send(ident, wire.encode(wire.CONFIRM, header))
                    if result == _BUSY:
                        self._verdicts_due = True
                        break
                    del ids[: wire.MAX_IDS]  # sent, or its listener is gone
                if not ids:
                    del book[ident]

    def _answerable(self, ident, mtype, msg_id, ids, dest, final, now):
        """CURVE: an ACK/REPLY goes only from a listener this proxy gave the message to,
        to the peer that sent it, while that peer is connected with its key.

        Returns the ids of a batched ACK it may pass (None when not batched),
        or False when nothing passes."""
        book = self.answers
        if dest in self._owner:
            if ids is None:
                allowed = book.may_answer(ident, msg_id, dest, now)
            else:
                ids = [i for i in ids if book.may_answer(ident, i, dest, now)]
                allowed = bool(ids)
        else:
            # not a peer connected with its key now (detached, or unknown):
            # whoever holds that id at this moment is not who the answer is for
            allowed = False
        if not allowed:
            self.counters.inc("reply_denied")
            if _log_due(self._reply_logged, ident):
                LOG.warning(
                    "refused %s from %s to %s about message %s: not an answer to a message "
                    "this proxy delivered to it from that peer",
                    "a reply" if mtype == wire.REPLY else "an ack",
                    ident.hex()[:12],
                    dest.hex()[:12],
                    msg_id,
                )
            return False
        for answered in ids if ids is not None else (msg_id,):
            if final:
                book.answered(ident, answered)
            else:
                book.extend(ident, answered, now + self._answer_ttl(0.0))
        return ids

    def _answer_ttl(self, ttl: float) -> float:
        """How long a listener may answer a message it was given."""
        floor, slack = self._answer_times
        return (ttl if ttl > floor else floor) + slack

    def _route(self, ident: bytes, header: dict, body: bytes | None, now: float) -> None:
        msg_id = wire.get_str(header, wire.F_ID)
        kind = header.get(wire.F_KIND)
        if kind not in (wire.RPC, wire.NOTIFY) or body is None:
            raise wire.WireError("bad send")
        exchange = wire.get_str(header, wire.F_EXCHANGE)
        topic = wire.get_str(header, wire.F_TOPIC)
        if not topic:
            raise wire.WireError("empty topic")
        server = wire.get_str(header, wire.F_SERVER, required=False) or ""
        ttl = wire.get_num(header, wire.F_TTL, 0.0)
        seq = wire.get_seq(header)
        if seq is None:
            seq = random.getrandbits(32)
        attempt = header.get(wire.F_TRY)
        fanout = bool(header.get(wire.F_FANOUT)) and kind == wire.RPC
        call = bool(header.get(wire.F_CALL)) and kind == wire.RPC and not fanout
        label = self._labels.get((kind, exchange, topic))
        if label is None:
            label = wire.target_label(kind, exchange, topic)
            if len(self._labels) >= _MAX_LABELS:
                self._labels.clear()
            self._labels[(kind, exchange, topic)] = label
        perms = self._permissions(ident)
        if perms is not None and not perms.may_send(kind, exchange, topic, server, fanout):
            self._deny(
                ident, label, "send to", acl.target_name(kind, exchange, topic, server, fanout)
            )
            self._status(ident, msg_id, wire.DROPPED, wire.NOT_PERMITTED)
            return
        out = {wire.F_ID: msg_id, wire.F_FROM: ident.hex()}
        if call:
            out[wire.F_CALL] = 1  # the reply is the acknowledgement
        else:
            out[wire.F_ACK] = 1
            ids_ok = header.get(wire.F_IDS_OK)
            if isinstance(ids_ok, int) and ids_ok == 1:
                out[wire.F_IDS_OK] = 1
        if isinstance(attempt, int) and not isinstance(attempt, bool):
            out[wire.F_TRY] = attempt
            if attempt > 1 and not call and not fanout and kind == wire.RPC:
                if self._taken_already(ident, msg_id, attempt, now):
                    return
        if kind == wire.NOTIFY:
            self._route_notify(ident, msg_id, exchange, topic, label, out, body, seq, now)
        elif fanout:
            self._route_fanout(ident, msg_id, exchange, topic, label, out, body)
        else:
            pin = wire.get_ident(header, wire.F_PIN, required=False)
            key = (kind, exchange, topic, server)
            mandatory = bool(header.get(wire.F_MANDATORY))
            self._route_one(ident, msg_id, key, label, out, body, seq, pin, ttl, mandatory, now)

    def _taken_already(self, ident: bytes, msg_id: str, attempt: int, now: float) -> bool:
        """A cast sent again that this proxy confirmed to a listener meanwhile (the
        listener asked here after the sender's proxy went away): answer "taken" for
        that listener instead of giving it to another one."""
        holder = self.confirms.confirmed_to(msg_id, now)
        if holder is None:
            return False
        self.counters.inc("resend_taken")
        LOG.debug(
            "cast %s sent again (try %d) was confirmed to %s: answered taken",
            msg_id,
            attempt,
            holder.hex()[:12],
        )
        header = {wire.F_ID: msg_id, wire.F_STATE: wire.TAKEN, wire.F_BY: holder.hex()}
        header[wire.F_TRY] = attempt
        self._send(ident, wire.encode(wire.ACK, header))
        return True

    def _route_one(self, ident, msg_id, key, label, out, body, seq, pin, ttl, mandatory, now):
        _kind, exchange, topic, server = key
        frames = wire.encode(wire.DELIVER, out, body)
        for _unused in range(4):
            members = self.table.rpc_members(exchange, topic, server)
            if not members:
                break
            dest = pin if pin is not None and pin in members else members.pick(seq)
            result = self._try_send(dest, frames)
            if result == _SENT:
                self.counters.inc("routed", label)
                if self.zap is not None:
                    self.answers.delivered(dest, msg_id, ident, now + self._answer_ttl(ttl))
                if out.get(wire.F_TRY, 1) > 1 and wire.F_ACK in out:
                    self.resends.routed(msg_id, dest, now)
                return
            if result == _BUSY:
                # never hand it to another listener: a copy re-sent later must
                # meet the listener this one would have reached
                self.counters.inc("busy")
                self._status(ident, msg_id, wire.BUSY)
                return
            # the listener vanished: forget it until it registers again
            self.table.unregister(dest, now)
            self.confirms.lost(dest, now)
            pin = None
        if mandatory:
            # at_least_once: the sender wants to know now
            self.counters.inc("dropped", label)
            self._status(ident, msg_id, wire.DROPPED, wire.NO_LISTENER)
            return
        self._hold(ident, msg_id, key, label, out, body, ttl, now)

    def _send_copies(self, dests: list[bytes], out: dict, body, sender: bytes = b"") -> tuple:
        """One DELIVER per listener, each telling how many copies exist; (sent, busy)."""
        frames = wire.encode(wire.DELIVER, dict(out, **{wire.F_COPIES: len(dests)}), body)
        sent, busy = [], False
        for dest in dests:
            result = self._try_send(dest, frames)
            if result == _SENT:
                sent.append(dest)
                if self.zap is not None:
                    expiry = time.monotonic() + self._answer_ttl(0.0)
                    self.answers.delivered(dest, out[wire.F_ID], sender, expiry)
            elif result == _BUSY:
                busy = True
            else:
                self.table.unregister(dest, time.monotonic())
                self.confirms.lost(dest, time.monotonic())
        return sent, busy

    def _route_fanout(self, ident, msg_id, exchange, topic, label, out, body) -> None:
        dests = self.table.fanout_members(exchange, topic)
        sent, busy = self._send_copies(dests, out, body, ident)
        self.counters.inc("routed", label, len(sent))
        if busy:
            # the sender sends it again later; who got it de-duplicates
            self.counters.inc("busy")
            self._status(ident, msg_id, wire.BUSY)
        elif not dests:
            self._status(ident, msg_id, wire.ROUTED)  # nobody listens: nothing to do
        elif len(sent) < len(dests):
            # a listener vanished: the sender re-sends at once to the ones left
            self._status(ident, msg_id, wire.BUSY)

    def _route_notify(self, ident, msg_id, exchange, topic, label, out, body, seq, now) -> None:
        pools = self.table.notify_pools(exchange, topic)
        dests = [members.pick(seq) for members in pools.values()]
        sent, busy = self._send_copies(dests, out, body, ident) if dests else ([], False)
        self.counters.inc("routed", label, len(sent))
        held = 0
        empty = self.table.empty_pools(exchange, topic)
        for pool in empty:
            held += self._hold_copy((wire.NOTIFY, exchange, topic, pool), ident, label, out, body)
        if not pools and not empty:
            any_key = (wire.NOTIFY, exchange, topic, ANY_POOL)
            held += self._hold_copy(any_key, ident, label, out, body, any_pool=True)
        if busy or len(sent) < len(dests):
            self.counters.inc("busy")
            self._status(ident, msg_id, wire.BUSY)
        elif not sent:
            if held:
                self._status(ident, msg_id, wire.HELD)
            else:
                self.counters.inc("dropped", label)
                LOG.warning("dropped message %s for %s: hold store full", msg_id, label)
                self._status(ident, msg_id, wire.DROPPED, "hold store full")

    def _hold_copy(self, key, ident, label, out, body, any_pool=False) -> int:
        """Hold one copy for a listener that may come; 1 if held."""
        limit = self.opts.hold_ttl
        size = len(body or b"") + 256
        held = Held(time.monotonic() + limit, ident, out, body, size, set() if any_pool else None)
        if limit > 0 and self.holds.hold(key, held):
            self.counters.inc("held", label)
            return 1
        return 0

    def _hold(self, ident, msg_id, key, label, out, body, ttl, now) -> None:
        limit = self.opts.hold_ttl
        if ttl > 0:
            limit = min(limit, ttl)
        held = Held(now + limit, ident, out, body, len(body or b"") + 256)
        if limit > 0 and self.holds.hold(key, held):
            self.counters.inc("held", label)
            self._status(ident, msg_id, wire.HELD)
            return
        why = "hold store full" if limit > 0 else wire.NO_LISTENER
        self.counters.inc("dropped", label)
        LOG.warning("dropped message %s for %s: %s", msg_id, label, why)
        self._status(ident, msg_id, wire.DROPPED, why)

    def _flush_holds(self, ident: bytes, target) -> None:
        kind, exchange, topic, extra = target
        batches = [(key, self.holds.take(key)) for key in hold_keys_for(target)]
        if kind == wire.NOTIFY:
            any_key = (kind, exchange, topic, ANY_POOL)
            batches.append((any_key, self.holds.for_pool(any_key, extra)))
        for key, held_list in batches:
            label = wire.target_label(key[0], key[1], key[2])
            for held in held_list:
                header = dict(held.header)
                header[wire.F_HELD] = 1
                if self._send(ident, wire.encode(wire.DELIVER, header, held.body)):
                    self.counters.inc("routed", label)
                    if self.zap is not None:
                        expiry = time.monotonic() + self._answer_ttl(held.expiry - time.monotonic())
                        self.answers.delivered(ident, held.header[wire.F_ID], held.sender, expiry)
                    self.counters.inc("delivered_from_hold")
                else:
                    self.counters.inc("dropped", label)
                    LOG.warning("dropped held message %s for %s", held.header.get("id"), label)

    # -- housekeeping ----------------------------------------------------------------
    def maintenance(self) -> None:
        now = self._clock()
        for ident in self.table.expire(now, self.opts.peer_timeout, self.opts.hold_ttl):
            self.confirms.lost(ident, now)
            LOG.info("listener %s timed out", ident.hex()[:12])
        self.answers.expire(now)
        self.confirms.expire(now)
        self.resends.expire(now)
        for key, held in self.holds.expire(now):
            label = wire.target_label(key[0], key[1], key[2])
            self.counters.inc("expired")
            self.counters.inc("dropped", label)
            LOG.warning(
                "dropped message %s for %s: no listener within TTL", held.header.get("id"), label
            )
        stale = [i for i, seen in self.clients.items() if now - seen > self.opts.peer_timeout]
        for ident in stale:
            del self.clients[ident]
        self._forget_bindings()
        self.snapshot = self._build_snapshot()

    def _forget_bindings(self) -> None:
        """Routing ids of peers this proxy no longer knows are free again."""
        owner, clients, peers = self._owner, self.clients, self.table.peers
        if len(owner) > len(clients) + len(peers):
            for ident in [i for i in owner if i not in clients and i not in peers]:
                del owner[ident]
                fd = self._fd_of.pop(ident, None)
                if fd is not None:
                    self._on_fd.get(fd, set()).discard(ident)
        limit = self._last_clock - self.opts.peer_timeout
        for ident in [i for i, (_k, when) in self._detached.items() if when < limit]:
            del self._detached[ident]

    def _build_snapshot(self) -> dict:
        listeners = self.table.listeners_by_label()
        targets = {}
        for label, entry in self.counters.targets.items():
            targets[label] = dict(entry, listeners=listeners.get(label, 0))
        for label, count in listeners.items():
            if label not in targets:
                # bounded like the counters: the rest of the listeners count under "_other"
                if len(targets) >= self.opts.max_tracked_targets:
                    label = Counters.OVERFLOW
                entry = targets.setdefault(label, dict.fromkeys(Counters.PER_TARGET, 0))
                entry["listeners"] = entry.get("listeners", 0) + count
        return {
            "version": 1,
            "endpoint": self.endpoint,
            "security_mode": self.opts.security_mode,
            "core": "native" if self.core is not None else "python",
            "uptime_seconds": round(time.time() - self.started, 3),
            "rss_bytes": _rss_bytes(),
            "counters": dict(
                self.counters.total, native_handled=self.core.handled if self.core else 0
            ),
            "held_now": {"messages": self.holds.count, "bytes": self.holds.bytes},
            "peers": {"listeners": len(self.table.peers), "clients": len(self.clients)},
            "targets": targets,
            # private (not in /stats): for /healthz and /metrics
            "_at": time.time(),
            "_started": self.started,
        }

    def health(self) -> tuple[int, dict]:
        age = time.time() - self.snapshot.get("_at", time.time())
        ok = not self._stop and age < 10
        return (200 if ok else 503), {
            "status": "ok" if ok else "stalled",
            "endpoint": self.endpoint,
        }

    def stats(self) -> dict:
        """The snapshot without its private keys: GET /stats."""
        return {k: v for k, v in self.snapshot.items() if not k.startswith("_")}

    # -- main loop -------------------------------------------------------------------
    def stop(self, *_args) -> None:
        self._stop = True

    def reload(self, *_args) -> None:
        self._reload_keys = True

    def run(self) -> None:
        poller = zmq.Poller()
        poller.register(self.router, zmq.POLLIN)
        if self.zap is not None:
            poller.register(self.zap, zmq.POLLIN)
        if self.monitor is not None:
            poller.register(self.monitor, zmq.POLLIN)
        next_maintenance = 0.0
        next_check = next_reload = time.monotonic() + _KEY_CHECK_INTERVAL
        self._clock()
        while not self._stop:
            events = dict(poller.poll(int(_MAINTENANCE_INTERVAL * 1000)))
            self._clock()
            if self.monitor is not None and self.monitor in events:
                self._handle_monitor()
            if self.zap is not None and self.zap in events:
                self._handle_zap()
            if self.router in events:
                self._receive_burst()
            if self._verdicts_due:
                self.flush_verdicts()
            now = time.monotonic()
            if now >= next_maintenance:
                self.maintenance()
                next_maintenance = now + _MAINTENANCE_INTERVAL
            if self.zap is not None and (self._reload_keys or now >= next_check):
                force = self._reload_keys or now >= next_reload
                self._load_allowed(force=force)
                self._reload_keys = False
                next_check = now + _KEY_CHECK_INTERVAL
                if force:
                    next_reload = now + _KEY_RELOAD_INTERVAL
        self.close()

    def _receive_burst(self) -> None:
        """Read the ROUTER until it is empty, _MAX_BURST messages at most."""
        core, count, flush_at, emptied = self.core, 0, _VERDICTS_EVERY, False
        while count < _MAX_BURST and not emptied:
            if core is None:
                emptied = not self._receive()
                count += not emptied
            else:
                got = core.pump(_MAX_BURST - count)
                if isinstance(got, int):
                    count += got
                    emptied = count < _MAX_BURST
                    continue
                handled, frames, user, fd = got
                count += handled + 1
                self.handle(frames, user, fd)
            if self._verdicts_due and count >= flush_at:
                self.flush_verdicts()  # a worker waits for each
                flush_at = count + _VERDICTS_EVERY
        if emptied and self._thawed[0]:
            self._thawed = (False, self._thawed[1])

    def _clock(self) -> float:
        """time.monotonic(), after making up for a stall of this process since the last read.

        A proxy frozen (SIGSTOP, a VM pause) must not forget its listeners for
        its own silence: their registrations wait in its sockets, unread.  The
        freeze can hit anywhere in the loop, not only its poll: in the receive
        burst of a busy proxy, or between the burst and the housekeeping.  So
        every clock read that can expire a peer goes through here, and a gap
        since the previous read longer than ``peer_timeout/2`` (beyond one poll
        wait) refreshes every peer before anything is expired.  Expiring them
        instead makes the thawed proxy route the stale copies in its sockets
        over a partial listener set or from its hold store, to another listener
        than the one the other proxy chose for the re-sent copy: a duplicate
        that per-listener de-duplication cannot see."""
        now = time.monotonic()
        gap = now - self._last_clock - _MAINTENANCE_INTERVAL
        self._last_clock = now
        if gap > min(_STALL_REFUSE, self.opts.peer_timeout / 2):
            self._thawed = (True, now + _THAW_REFUSAL)
        if gap > self.opts.peer_timeout / 2:
            self.table.touch_all(now)
            for ident in self.clients:
                self.clients[ident] = now
            self.counters.inc("stalls")
            LOG.warning("proxy was stalled for %.1f s; keeping its peers", gap)
        return now

    def close(self) -> None:
        self.core = None  # it holds the ROUTER's address: not one pump after the close
        if self.monitor is not None:
            self.router.disable_monitor()
        for sock in (self.monitor, self.router, self.zap):
            if sock is not None:
                sock.close(linger=0)
        self.ctx.term()


def load_native_core():
    """The module of the compiled core, bound to pyzmq's own libzmq; None when not built."""
    try:
        from oslo_messaging_zmq import _core
    except ImportError:
        return None
    path = _loaded_libzmq()
    if path is None:
        LOG.warning("native core not used: cannot tell which libzmq pyzmq loaded")
        return None
    _core.load(path)
    return _core


def _loaded_libzmq() -> str | None:
    """The file of the libzmq this process loaded with pyzmq (its wheel's own copy or the
    system's), from /proc/self/maps; None when there is not exactly one."""
    found = set()
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                fields = line.split(None, 5)
                if len(fields) == 6 and os.path.basename(fields[5]).startswith("libzmq"):
                    found.add(fields[5].rstrip("\n"))
    except OSError:
        return None
    return found.pop() if len(found) == 1 else None


def _log_due(last: dict, what) -> bool:
    """Rate limit of a log line about what: True at most once per _LOG_EVERY s."""
    now = time.monotonic()
    if now - last.get(what, -1e9) <= _LOG_EVERY:
        return False
    if len(last) > 10000:
        last.clear()
    last[what] = now
    return True


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--bind-address")
    parser.add_argument("--port", type=int)
    parser.add_argument("--health-address")
    parser.add_argument("--health-port", type=int)
    parser.add_argument("--security-mode", choices=options.SECURITY_MODES)
    parser.add_argument("--server-secret-key-file")
    parser.add_argument("--allowed-clients")
    parser.add_argument("--hold-ttl", type=float)
    return parser.parse_known_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Console script oslo-messaging-zmq-proxy."""
    from oslo_log import log as oslo_log

    argv = sys.argv[1:] if argv is None else argv
    flags, rest = _parse_args(argv)
    conf = cfg.ConfigOpts()
    options.register_proxy(conf)
    oslo_log.register_options(conf)
    conf(
        rest,
        project="oslo.messaging.zmq",
        prog="oslo-messaging-zmq-proxy",
        usage="%(prog)s [--config-file FILE] [--port N] [--bind-address A] [--health-port N] "
        "[--health-address A] [--security-mode curve|plain] [--server-secret-key-file F] "
        "[--allowed-clients PATH] [--hold-ttl S]",
    )
    for name, value in vars(flags).items():
        if value is not None:
            conf.set_override(name, value, group=options.PROXY_GROUP)
    oslo_log.setup(conf, "oslo-messaging-zmq-proxy")
    opts = conf[options.PROXY_GROUP]
    proxy = Proxy(opts)
    try:
        proxy.bind()
    except (zmq.ZMQError, security.KeyFileError) as exc:
        LOG.error("cannot start proxy: %s", exc)
        return 1
    health = None
    if opts.health_port:
        proxy.maintenance()
        health = HealthServer(
            opts.health_address,
            opts.health_port,
            proxy.health,
            proxy.stats,
            lambda: proxy.snapshot,
        )
        health.start()
        LOG.info("/healthz, /metrics and /stats on http://%s:%d/", opts.health_address, health.port)
    signal.signal(signal.SIGTERM, proxy.stop)
    signal.signal(signal.SIGINT, proxy.stop)
    signal.signal(signal.SIGHUP, proxy.reload)
    try:
        proxy.run()
    finally:
        if health is not None:
            health.stop()
    LOG.info("zmq proxy stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
