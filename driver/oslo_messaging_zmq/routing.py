"""Proxy state: who listens on what, held messages and counters.

Everything here is soft state rebuilt from the listeners' periodic
registrations, so several proxies can run side by side without sharing
anything and a restarted proxy recovers within one heartbeat interval.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field

from oslo_messaging_zmq import wire

# (kind, exchange, topic, server-or-pool) as registered by a listener
Target = tuple[str, str, str, str]


@dataclass
class Peer:
    last_seen: float
    targets: set[Target] = field(default_factory=set)


class RoutingTable:
    """Listener registrations with round-robin selection."""

    def __init__(self) -> None:
        self.peers: dict[bytes, Peer] = {}
        # ordered "sets" (dict keys) of peer ids
        self._topic: dict[tuple[str, str], dict[bytes, None]] = {}
        self._server: dict[tuple[str, str, str], dict[bytes, None]] = {}
        self._notify: dict[tuple[str, str], dict[str, dict[bytes, None]]] = {}
        self._rr: dict[tuple, int] = {}

    # -- membership ----------------------------------------------------------
    def register(self, ident: bytes, targets: list[Target], now: float) -> list[Target]:
        """Set ident's targets; return the ones that are new for it."""
        peer = self.peers.get(ident)
        if peer is None:
            peer = self.peers[ident] = Peer(now)
        peer.last_seen = now
        wanted = set(targets)
        for target in peer.targets - wanted:
            self._remove(ident, target)
        new = [t for t in targets if t not in peer.targets]
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

    def unregister(self, ident: bytes) -> Peer | None:
        peer = self.peers.pop(ident, None)
        if peer is not None:
            for target in peer.targets:
                self._remove(ident, target)
        return peer

    def expire(self, now: float, timeout: float) -> list[bytes]:
        gone = [i for i, p in self.peers.items() if now - p.last_seen > timeout]
        for ident in gone:
            self.unregister(ident)
        return gone

    def _add(self, ident: bytes, target: Target) -> None:
        kind, exchange, topic, extra = target
        if kind == wire.RPC:
            self._topic.setdefault((exchange, topic), {})[ident] = None
            if extra:
                self._server.setdefault((exchange, topic, extra), {})[ident] = None
        else:
            self._notify.setdefault((exchange, topic), {}).setdefault(extra, {})[ident] = None

    def _remove(self, ident: bytes, target: Target) -> None:
        kind, exchange, topic, extra = target
        if kind == wire.RPC:
            _discard(self._topic, (exchange, topic), ident)
            if extra:
                _discard(self._server, (exchange, topic, extra), ident)
        else:
            pools = self._notify.get((exchange, topic))
            if pools is not None:
                _discard(pools, extra, ident)
                if not pools:
                    del self._notify[(exchange, topic)]

    # -- routing ---------------------------------------------------------------
    def _pick(self, key: tuple, members: dict[bytes, None]) -> bytes:
        idents = list(members)
        turn = self._rr.get(key, 0)
        self._rr[key] = turn + 1
        return idents[turn % len(idents)]

    def route(self, kind: str, exchange: str, topic: str, server: str, fanout: bool) -> list[bytes]:
        """Listeners that must get one copy of a message (empty: nobody)."""
        if kind == wire.NOTIFY:
            pools = self._notify.get((exchange, topic))
            if not pools:
                return []
            return [self._pick((exchange, topic, pool), m) for pool, m in pools.items()]
        if fanout:
            return list(self._topic.get((exchange, topic), ()))
        if server:
            members = self._server.get((exchange, topic, server))
            key: tuple = (exchange, topic, server)
        else:
            members = self._topic.get((exchange, topic))
            key = (exchange, topic)
        if not members:
            return []
        return [self._pick(key, members)]

    def listeners_by_label(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for (exchange, topic), members in self._topic.items():
            out[wire.target_label(wire.RPC, exchange, topic)] = len(members)
        for (exchange, topic), pools in self._notify.items():
            out[wire.target_label(wire.NOTIFY, exchange, topic)] = sum(map(len, pools.values()))
        return out


def _discard(index: dict, key, ident: bytes) -> None:
    members = index.get(key)
    if members is not None:
        members.pop(ident, None)
        if not members:
            del index[key]


@dataclass
class Held:
    expiry: float
    sender: bytes
    header: dict
    body: bytes | None
    size: int


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

    def expire(self, now: float) -> list[tuple[Target, Held]]:
        out = []
        for key in list(self._queues):
            queue = self._queues[key]
            keep = collections.deque(h for h in queue if h.expiry > now)
            for held in queue:
                if held.expiry <= now:
                    out.append((key, held))
                    self.count -= 1
                    self.bytes -= held.size
            if keep:
                self._queues[key] = keep
            else:
                del self._queues[key]
        return out


def hold_keys_for(target: Target) -> list[Target]:
    """Held-message keys a newly registered listener target can take."""
    kind, exchange, topic, extra = target
    if kind == wire.RPC:
        keys = [(kind, exchange, topic, "")]
        if extra:
            keys.append((kind, exchange, topic, extra))
        return keys
    return [(kind, exchange, topic, "")]


class Counters:
    """Global and per-target counters; per-target entries are bounded."""

    GLOBAL = (
        "received",
        "routed",
        "held",
        "delivered_from_hold",
        "dropped",
        "expired",
        "malformed",
        "acks",
        "replies",
        "auth_denied",
        "auth_allowed",
    )
    PER_TARGET = ("routed", "held", "dropped")

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
                label = "_other"
                entry = self.targets.get(label)
            if entry is None:
                entry = self.targets[label] = dict.fromkeys(self.PER_TARGET, 0)
        entry[name] += n
