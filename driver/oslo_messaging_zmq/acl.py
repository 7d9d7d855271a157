"""Per-key permissions: which targets a client key may listen on and send to.

They live in the client's public key file in the proxy's allowed_clients
directory, as certificate metadata (see security.py)::

    metadata
        listen = "nova:compute/cmp1"
        send = "nova:conductor nova:scheduler fanout:nova:compute notify:nova:notifications.*"

Each value is a list of patterns separated by blanks or commas.  A pattern
names targets as the proxy sees them::

    [fanout: | notify:]EXCHANGE:TOPIC[/SERVER]

* ``EXCHANGE:TOPIC``: an RPC topic, with any server or none (round robin,
  direct ``TOPIC/SERVER`` messages, and for ``listen`` the topic's fanouts,
  which every listener of a topic receives in oslo.messaging);
* ``EXCHANGE:TOPIC/SERVER``: only that server of the topic;
* ``fanout:EXCHANGE:TOPIC``: a fanout cast to the topic (``send`` only: a
  fanout must be granted explicitly, it reaches every listener);
* ``notify:EXCHANGE:TOPIC``: notifications; TOPIC includes the priority
  (``notifications.info``), ``/POOL`` restricts a listener's pool;
* ``*`` matches any run of characters, anywhere: ``neutron:q-agent-notifier-*``,
  ``cinder:cinder-volume/cmp1@*``, ``nova:*``, ``*`` (everything).

An exchange with a virtual host is written ``VHOST/EXCHANGE``.  A key file
without ``listen`` keeps every right to listen, without ``send`` every right
to send (backward compatible); an empty value grants nothing.

Patterns are compiled once per key file load; decisions are cached per key
and target, so a message costs one dictionary lookup.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from oslo_messaging_zmq import wire

LISTEN = "listen"
SEND = "send"
FANOUT_PREFIX = "fanout:"
NOTIFY_PREFIX = "notify:"

_CACHE_MAX = 4096
_NAME = r"[^\s:\"'/]+"
_PATTERN_RE = re.compile(rf"^(?:fanout:|notify:)?{_NAME}(?:/{_NAME})?:{_NAME}(?:/[^\s:\"']+)?$")


def target_name(kind: str, exchange: str, topic: str, server: str, fanout: bool = False) -> str:
    """The name patterns are matched against (see the module docstring)."""
    prefix = NOTIFY_PREFIX if kind == wire.NOTIFY else FANOUT_PREFIX if fanout else ""
    name = "%s%s:%s" % (prefix, exchange, topic)
    return "%s/%s" % (name, server) if server else name


def parse_patterns(text: str) -> tuple[str, ...]:
    """The patterns of a metadata value; ValueError naming the first malformed one."""
    patterns = tuple(p for p in re.split(r"[\s,]+", text) if p)
    for pattern in patterns:
        if not _PATTERN_RE.match(pattern) and pattern != "*":
            raise ValueError(
                "malformed pattern %r (expected [fanout:|notify:]EXCHANGE:TOPIC[/SERVER])" % pattern
            )
    return patterns


def _compile(pattern: str) -> re.Pattern:
    regex = ".*".join(re.escape(part) for part in pattern.split("*"))
    # no /SERVER after the topic: any server (or none) of the topic
    last = pattern.rsplit(":", 1)[-1]
    if pattern != "*" and "/" not in last:
        regex += "(?:/.*)?"
    return re.compile(regex, re.DOTALL)


@dataclass(eq=False)
class Rules:
    """One right (listen or send) of one key: its patterns, compiled."""

    patterns: tuple[str, ...]
    _compiled: list[re.Pattern] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        self._compiled = [_compile(p) for p in self.patterns]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Rules) and other.patterns == self.patterns

    def __hash__(self) -> int:
        return hash(self.patterns)

    def matches(self, name: str) -> bool:
        return any(regex.fullmatch(name) for regex in self._compiled)


class Permissions:
    """What one key may do; None for a right means unrestricted."""

    def __init__(self, listen: Rules | None, send: Rules | None) -> None:
        self.listen = listen
        self.send = send
        self._cache: dict[tuple, bool] = {}

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Permissions)
            and other.listen == self.listen
            and other.send == self.send
        )

    def __hash__(self) -> int:
        return hash((self.listen, self.send))

    def __repr__(self) -> str:
        return "Permissions(listen=%r, send=%r)" % (self.listen, self.send)

    def may_listen(self, target: tuple[str, str, str, str]) -> bool:
        if self.listen is None:
            return True
        key = (LISTEN, *target)
        decision = self._cache.get(key)
        if decision is None:
            kind, exchange, topic, extra = target
            decision = self.listen.matches(target_name(kind, exchange, topic, extra))
            self._remember(key, decision)
        return decision

    def may_send(self, kind: str, exchange: str, topic: str, server: str, fanout: bool) -> bool:
        if self.send is None:
            return True
        key = (SEND, kind, exchange, topic, server, fanout)
        decision = self._cache.get(key)
        if decision is None:
            decision = self.send.matches(target_name(kind, exchange, topic, server, fanout))
            self._remember(key, decision)
        return decision

    def _remember(self, key: tuple, decision: bool) -> None:
        if len(self._cache) >= _CACHE_MAX:
            self._cache.clear()
        self._cache[key] = decision


def from_metadata(metadata: dict[str, str]) -> Permissions | None:
    """The permissions a key file's metadata grants; None: full rights (no entry).

    ValueError (naming the entry) when a pattern is malformed."""
    rules: dict[str, Rules | None] = {}
    for right in (LISTEN, SEND):
        value = metadata.get(right)
        if value is None:
            rules[right] = None
            continue
        try:
            rules[right] = Rules(parse_patterns(value))
        except ValueError as exc:
            raise ValueError("metadata %s: %s" % (right, exc)) from None
    if rules[LISTEN] is None and rules[SEND] is None:
        return None
    return Permissions(rules[LISTEN], rules[SEND])
