"""Proxy state: who listens on what, held messages and counters.

Everything here is soft state rebuilt from the listeners' periodic
registrations, so several proxies can run side by side without sharing
anything and a restarted proxy recovers within one heartbeat interval.

Listener choice is a pure function of the membership and the sender's
sequence number: the members of a target are kept sorted by routing id and a
message with sequence ``seq`` goes to ``members[seq % len(members)]``.  Every
proxy sees the same registrations, so a copy re-sent through another proxy
reaches the same listener, whose de-duplication then recognises it.
"""

from __future__ import annotations

import bisect
import collections
from dataclasses import dataclass, field

from oslo_messaging_zmq import wire

# (kind, exchange, topic, server-or-pool) as registered by a listener
Target = tuple[str, str, str, str]

# hold key of a notification sent while no pool of its topic was known: every
# pool that registers within the hold TTL gets one copy
ANY_POOL = "\x00any"


class Members:
    """Routing ids of the listeners of one target, sorted."""

    __slots__ = ("ids",)

    def __init__(self) -> None:
        self.ids: list[bytes] = []

    def add(self, ident: bytes) -> None:
        ids = self.ids
        at = bisect.bisect_left(ids, ident)
        if at == len(ids) or ids[at] != ident:
            ids.insert(at, ident)

    def discard(self, ident: bytes) -> None:
        ids = self.ids
        at = bisect.bisect_left(ids, ident)
        if at < len(ids) and ids[at] == ident:
            del ids[at]

    def __contains__(self, ident: bytes) -> bool:
        ids = self.ids
        at = bisect.bisect_left(ids, ident)
        return at < len(ids) and ids[at] == ident

    def __len__(self) -> int:
        return len(self.ids)

    def __iter__(self):
        return iter(self.ids)

    def pick(self, seq: int) -> bytes:
        return self.ids[seq % len(self.ids)]


@dataclass
class Peer:
    last_seen: float
    targets: set[Target] = field(default_factory=set)
    # the REGISTER frame that set targets, when its key may listen on all of them:
    # the same frame again changes nothing (the proxy's native core answers it alone)
    registration: bytes | None = None


class RoutingTable:
    """Listener registrations, indexed for routing."""

    def __init__(self) -> None:
        self.peers: dict[bytes, Peer] = {}
        self._topic: dict[tuple[str, str], Members] = {}
        self._server: dict[tuple[str, str, str], Members] = {}
        self._notify: dict[tuple[str, str], dict[str, Members]] = {}
        # notification pools whose last listener left: (exchange, topic) -> {pool: when}
        self._empty_pools: dict[tuple[str, str], dict[str, float]] = {}

    # -- membership ----------------------------------------------------------
    def register(self, ident: bytes, targets: list[Target], now: float) -> list[Target]:
        """Set ident's targets; return the ones that are new for it."""
        peer = self.peers.get(ident)
        if peer is None:
            peer = self.peers[ident] = Peer(now)
        peer.last_seen = now
        wanted = set(targets)
        if wanted == peer.targets:
            return []
        for target in peer.targets - wanted:
            self._remove(ident, target, now)
        new = [t for t in wanted if t not in peer.targets]
        for target in new:
            self._add(ident, target)
        peer.targets = wanted
        return new

    def touch(self, ident: bytes, now: float) -> bool:
        peer = self.peers.get(ident)
        if peer is None:
            return False
        peer.last_seen = now
        return True

    def touch_all(self, now: float) -> None:
        """After the proxy itself stalled: its peers were not silent, it was."""
        for peer in self.peers.values():
            peer.last_seen = now

    def unregister(self, ident: bytes, now: float = 0.0) -> Peer | None:
        peer = self.peers.pop(ident, None)
        if peer is not None:
            for target in peer.targets:
                self._remove(ident, target, now)
        return peer

    def expire(self, now: float, timeout: float, pool_memory: float) -> list[bytes]:
        gone = [i for i, p in self.peers.items() if now - p.last_seen > timeout]
        for ident in gone:
            self.unregister(ident, now)
        for key in list(self._empty_pools):
            pools = self._empty_pools[key]
            for pool in [p for p, when in pools.items() if now - when > pool_memory]:
                del pools[pool]
            if not pools:
                del self._empty_pools[key]
        return gone

    def _add(self, ident: bytes, target: Target) -> None:
        kind, exchange, topic, extra = target
        if kind == wire.RPC:
            self._topic.setdefault((exchange, topic), Members()).add(ident)
            if extra:
                self._server.setdefault((exchange, topic, extra), Members()).add(ident)
            return
        key = (exchange, topic)
        self._notify.setdefault(key, {}).setdefault(extra, Members()).add(ident)
        empty = self._empty_pools.get(key)
        if empty is not None:
            empty.pop(extra, None)
            if not empty:
                del self._empty_pools[key]

    def _remove(self, ident: bytes, target: Target, now: float) -> None:
        kind, exchange, topic, extra = target
        if kind == wire.RPC:
            _discard(self._topic, (exchange, topic), ident)
            if extra:
                _discard(self._server, (exchange, topic, extra), ident)
            return
        key = (exchange, topic)
        pools = self._notify.get(key)
        if pools is None:
            return
        if _discard(pools, extra, ident):
            self._empty_pools.setdefault(key, {})[extra] = now
        if not pools:
            del self._notify[key]

    # -- routing ---------------------------------------------------------------
    def rpc_members(self, exchange: str, topic: str, server: str) -> Members | None:
        if server:
            return self._server.get((exchange, topic, server))
        return self._topic.get((exchange, topic))

    def fanout_members(self, exchange: str, topic: str) -> list[bytes]:
        members = self._topic.get((exchange, topic))
        return list(members) if members else []

    def notify_pools(self, exchange: str, topic: str) -> dict[str, Members]:
        return self._notify.get((exchange, topic)) or {}

    def empty_pools(self, exchange: str, topic: str) -> list[str]:
        """Pools of the topic that had listeners recently and have none now."""
        return list(self._empty_pools.get((exchange, topic), ()))

    def listeners_by_label(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for (exchange, topic), members in self._topic.items():
            out[wire.target_label(wire.RPC, exchange, topic)] = len(members)
        for (exchange, topic), pools in self._notify.items():
            out[wire.target_label(wire.NOTIFY, exchange, topic)] = sum(map(len, pools.values()))
        return out


def _discard(index: dict, key, ident: bytes) -> bool:
    """Remove ident from index[key]; True when that emptied (and deleted) the entry."""
    members = index.get(key)
    if members is None:
        return False
    members.discard(ident)
    if not members:
        del index[key]
        return True
    return False


@dataclass
class Held:
    expiry: float
    sender: bytes
    header: dict
    body: bytes | None
    size: int
    # ANY_POOL entries: the pools that already got their copy
    pools_done: set[str] | None = None


class HoldStore:
    """Bounded, TTL-limited store of messages whose target has no listener yet."""

    def __init__(self, max_messages: int, max_bytes: int) -> None:
        self.max_messages = max_messages
        self.max_bytes = max_bytes
        self.count = 0
        self.bytes = 0
        self._queues: dict[Target, collections.deque[Held]] = {}

    def hold(self, key: Target, held: Held) -> bool:
        if self.count + 1 > self.max_messages or self.bytes + held.size > self.max_bytes:
            return False
        self._queues.setdefault(key, collections.deque()).append(held)
        self.count += 1
        self.bytes += held.size
        return True

    def take(self, key: Target) -> list[Held]:
        queue = self._queues.pop(key, None)
        if not queue:
            return []
        self.count -= len(queue)
        self.bytes -= sum(h.size for h in queue)
        return list(queue)

    def for_pool(self, key: Target, pool: str) -> list[Held]:
        """ANY_POOL entries not yet given to pool (they stay held for later pools)."""
        queue = self._queues.get(key)
        if not queue:
            return []
        out = []
        for held in queue:
            if held.pools_done is not None and pool not in held.pools_done:
                held.pools_done.add(pool)
                out.append(held)
        return out

    def drop_senders(self, senders: set[bytes]) -> list[tuple[Target, Held]]:
        """Remove what these senders sent; return it."""
        out = []
        for key in list(self._queues):
            queue = self._queues[key]
            gone = [h for h in queue if h.sender in senders]
            if not gone:
                continue
            for held in gone:
                self.count -= 1
                self.bytes -= held.size
                out.append((key, held))
            keep = collections.deque(h for h in queue if h.sender not in senders)
            if keep:
                self._queues[key] = keep
            else:
                del self._queues[key]
        return out

    def expire(self, now: float) -> list[tuple[Target, Held]]:
        """Remove expired entries; return those that reached nobody."""
        out = []
        for key in list(self._queues):
            queue = self._queues[key]
            keep = collections.deque(h for h in queue if h.expiry > now)
            for held in queue:
                if held.expiry <= now:
                    self.count -= 1
                    self.bytes -= held.size
                    if not held.pools_done:
                        out.append((key, held))
            if keep:
                self._queues[key] = keep
            else:
                del self._queues[key]
        return out


class AnswerBook:
    """Who may answer what: (listener, message id) -> (sender, expiry).

    The proxy writes an entry for each DELIVER it hands out (CURVE only) and
    lets an ACK or REPLY through only from that listener, about that message,
    to that sender, until the entry expires or the final answer passed.
    Bounded: past max_entries the oldest entries go first (their late answers
    are refused; the sender then sends the message again, which writes a new
    entry, and the listener answers that copy).

    The proxy's native core (_core.c) does what delivered (below max_entries),
    may_answer and answered do on _entries and _order themselves: keep their layout.
    """

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._entries: dict[tuple[bytes, str], tuple[bytes, float]] = {}
        self._order: collections.deque[tuple[float, tuple[bytes, str]]] = collections.deque()

    def __len__(self) -> int:
        return len(self._entries)

    def delivered(self, listener: bytes, msg_id: str, sender: bytes, expiry: float) -> None:
        key = (listener, msg_id)
        self._entries[key] = (sender, expiry)
        self._order.append((expiry, key))
        while len(self._entries) > self.max_entries:
            _when, old = self._order.popleft()
            self._entries.pop(old, None)

    def may_answer(self, listener: bytes, msg_id: str, dest: bytes, now: float) -> bool:
        entry = self._entries.get((listener, msg_id))
        return entry is not None and entry[0] == dest and entry[1] > now

    def extend(self, listener: bytes, msg_id: str, expiry: float) -> None:
        """A listener still working on it (waiting ack, call heartbeat): keep the entry."""
        key = (listener, msg_id)
        entry = self._entries.get(key)
        if entry is not None and entry[1] < expiry:
            self._entries[key] = (entry[0], expiry)

    def answered(self, listener: bytes, msg_id: str) -> None:
        self._entries.pop((listener, msg_id), None)

    def expire(self, now: float) -> None:
        order, entries = self._order, self._entries
        while order and order[0][0] <= now:
            _when, key = order.popleft()
            entry = entries.get(key)
            if entry is None:
                continue
            if entry[1] > now:
                order.append((entry[1], key))  # extended since
            else:
                del entries[key]
        if len(order) > 4 * max(len(entries), 1024):
            # entries answered early leave their marks in the queue: rebuild it
            self._order = collections.deque(sorted((e[1], k) for k, e in entries.items()))


class ConfirmMemory:
    """What a proxy confirmed to each listener lately (wire.CONFIRM), kept longer
    for a listener it lost.

    A listener frozen right after its "taken" was confirmed is forgotten by the
    proxy (silent for peer_timeout, its connection dropped) with the
    confirmation still unread: it never gets it, asks again after the thaw, and
    must get the same answer (the sender was told "taken").  So the
    confirmations of the last ``recent`` seconds are moved aside when the
    listener is lost and kept ``kept`` seconds, at most ``max_kept`` ids in all
    (oldest first out: a question about one of those is judged afresh).
    """

    def __init__(self, recent: float, kept: float, max_kept: int) -> None:
        self.recent, self.kept, self.max_kept = recent, kept, max_kept
        self._recent: dict[bytes, collections.deque[tuple[float, str]]] = {}
        self._lost: dict[bytes, tuple[float, set[str]]] = {}
        self._lost_count = 0
        self._by_id: dict[str, tuple[float, bytes]] = {}  # oldest first

    def add(self, listener: bytes, msg_id: str, now: float) -> None:
        self._by_id.pop(msg_id, None)
        self._by_id[msg_id] = (now, listener)
        log = self._recent.get(listener)
        if log is None:
            log = self._recent[listener] = collections.deque()
        log.append((now, msg_id))
        limit = now - self.recent
        while log[0][0] < limit:
            log.popleft()

    def lost(self, listener: bytes, now: float) -> None:
        """The proxy forgot the listener: keep what it confirmed to it just before."""
        log = self._recent.pop(listener, None)
        if not log:
            return
        limit = log[-1][0] - self.recent  # its last moments, however long ago
        ids = {msg_id for when, msg_id in log if when >= limit}
        until, kept = self._lost.get(listener, (0.0, set()))
        self._lost_count += len(ids - kept)
        kept |= ids
        self._lost[listener] = (now + self.kept, kept)
        while self._lost_count > self.max_kept and self._lost:
            oldest = min(self._lost, key=lambda ident: self._lost[ident][0])
            self._lost_count -= len(self._lost.pop(oldest)[1])

    def confirmed(self, listener: bytes, msg_id: str) -> bool:
        lost = self._lost.get(listener)
        if lost is not None and msg_id in lost[1]:
            return True
        log = self._recent.get(listener)
        return log is not None and any(known == msg_id for _when, known in log)

    def confirmed_to(self, msg_id: str, now: float) -> bytes | None:
        """The listener this proxy confirmed the message to lately, if any."""
        return _fresh(self._by_id, msg_id, now - self.recent)

    def expire(self, now: float) -> None:
        for ident in [i for i, (until, _ids) in self._lost.items() if until <= now]:
            self._lost_count -= len(self._lost.pop(ident)[1])
        _trim_oldest(self._by_id, now - self.recent)

    def __len__(self) -> int:
        return self._lost_count + sum(len(log) for log in self._recent.values())


class ResendBook:
    """To which listener a proxy routed each cast sent again lately (try > 1).

    The listener that took an earlier copy may ask this proxy for its verdict
    (its own proxy went away): if the copy sent again went to another listener,
    the answer must be "refused", or both run it.  Only copies sent again are
    kept: a first copy has no earlier one."""

    def __init__(self, keep: float, max_ids: int) -> None:
        self.keep, self.max_ids = keep, max_ids
        self._to: dict[str, tuple[float, bytes]] = {}  # oldest first

    def routed(self, msg_id: str, listener: bytes, now: float) -> None:
        self._to.pop(msg_id, None)
        self._to[msg_id] = (now, listener)
        if len(self._to) > self.max_ids:
            del self._to[next(iter(self._to))]

    def routed_to(self, msg_id: str, now: float) -> bytes | None:
        return _fresh(self._to, msg_id, now - self.keep)

    def expire(self, now: float) -> None:
        _trim_oldest(self._to, now - self.keep)

    def __len__(self) -> int:
        return len(self._to)


def _fresh(entries: dict, key: str, limit: float) -> bytes | None:
    """The listener of an entry (when, listener) no older than limit, else None."""
    entry = entries.get(key)
    return entry[1] if entry is not None and entry[0] >= limit else None


def _trim_oldest(entries: dict, limit: float) -> None:
    """Drop the entries (when, ...) older than limit from a dict kept oldest first."""
    while entries:
        first = next(iter(entries))
        if entries[first][0] >= limit:
            return
        del entries[first]


def hold_keys_for(target: Target) -> list[Target]:
    """Held-message keys a newly registered listener target takes."""
    kind, exchange, topic, extra = target
    if kind == wire.RPC:
        keys = [(kind, exchange, topic, "")]
        if extra:
            keys.append((kind, exchange, topic, extra))
        return keys
    return [(kind, exchange, topic, extra)]


class Counters:
    """Global and per-target counters; per-target entries are bounded.

    The proxy's native core counts in total and in a target's existing entry itself."""

    GLOBAL = (
        "received",
        "routed",
        "held",
        "delivered_from_hold",
        "dropped",
        "expired",
        "busy",
        "malformed",
        "acks",
        "replies",
        "auth_denied",
        "auth_allowed",
        "stalls",
        "identity_denied",
        "reply_denied",
        "revoked",
        "acl_denied",
        "confirmed",
        "confirmed_again",
        "refused_late",
        "refused_resent",
        "resend_taken",
    )
    PER_TARGET = ("routed", "held", "dropped", "acl_denied")
    # the label of every target beyond max_targets
    OVERFLOW = "_other"

    def __init__(self, max_targets: int) -> None:
        self.total = dict.fromkeys(self.GLOBAL, 0)
        self.targets: dict[str, dict[str, int]] = {}
        self._max = max_targets

    def inc(self, name: str, label: str | None = None, n: int = 1) -> None:
        self.total[name] = self.total.get(name, 0) + n
        if label is None or name not in self.PER_TARGET:
            return
        entry = self.targets.get(label)
        if entry is None:
            if len(self.targets) >= self._max:
                label = self.OVERFLOW
                entry = self.targets.get(label)
            if entry is None:
                entry = self.targets[label] = dict.fromkeys(self.PER_TARGET, 0)
        entry[name] += n
