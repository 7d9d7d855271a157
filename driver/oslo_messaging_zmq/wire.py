"""Wire format shared by the driver and the proxy.

Every message a peer (DEALER) exchanges with a proxy (ROUTER) is one frame::

    MAGIC TYPE HLEN HEADER BODY?

MAGIC is b"OMZ\\x03" (protocol version 3), TYPE one byte, HLEN the length of
HEADER (2 bytes, big endian), HEADER a msgpack map whose keys are the field
names below, BODY (the rest of the frame, possibly empty) the opaque payload
(JSON of context and message) that the proxy never decodes nor logs.  On the
ROUTER side libzmq prepends the routing id of the peer.  Routing ids travel
in headers as hex.

One frame, not one per part (version 2 had [MAGIC, TYPE, HEADER, BODY]):
libzmq encrypts, queues and signals each frame on its own, and a frame costs
every hop as much as a 2 KB copy; one frame per message cut the CPU of a
CURVE round trip through the proxy (driver/bench/results/proxy-profile-*).

Header fields, one meaning each (``F_*`` constants):

=========  ========  =====================================================  ==================
field      type      meaning                                                in
=========  ========  =====================================================  ==================
id         str       message id (uuid4 hex), the key of de-duplication      S D A P T
kind       str       target kind: "r" RPC, "n" notification                 S
exchange   str       exchange (``<vhost>/<exchange>`` with a virtual host)  S
topic      str       topic; notifications ``<topic>.<priority>``            S
server     str       RPC server of a direct message                         S
fanout     1         RPC fanout: one copy to every listener of the topic    S
call       1         the sender waits for a REPLY                           S D
mandatory  1         refuse (status dropped) instead of holding             S
ttl        float     s the proxy may hold it (a call's timeout)             S
seq        int       the sender's sequence number for this target: picks    S
                     the listener (same seq, same listener, on every proxy)
pin        str       a listener that already has the message (hex id)       S
try        int       attempt number of this copy, echoed in its ACK         S D A
copies     int       DELIVER: copies the proxy handed out for this attempt  D A
                     (fanout, notification pools); echoed in the ACK
from       str       sender's routing id                                    D
ack        1         the listener must acknowledge end-to-end               D
held       1         this copy comes from the proxy's hold store: its       D
                     sender settled it on STATUS held and sends no other
to         str       routing id an ACK/REPLY is for                         A P
by         str       routing id of the listener an ACK comes from (set by   A
                     the proxy, never trusted from the peer)
state      str       ACK state: "taken" (a worker has it: final),           A
                     "waiting" (queued at the listener), "released"
                     (not executed there: send it again)
hb         1         REPLY is a call-monitor heartbeat, not the result      P
status     str       STATUS: "routed" (multi-copy), "held", "dropped",      T
                     "busy" (the listener's queue is full: retry later);
                     "routed" only for a fanout nobody listens to
why        str       reason of a dropped status; with an empty id it is     T
                     about the peer, not a message: "key revoked",
                     "not permitted: listen on <target>"
ids        [str]     a batched ACK: every id it is about ("waiting"       A C
                     reports; "taken" of single-copy messages a
                     listener's turn settled for one sender, without
                     try); CONFIRM: the "taken" ACKs it answers
idsok      1         the sender of this cast reads a batched "taken"      S D
                     (ids); the proxy copies it from SEND to DELIVER, a
                     listener batches "taken" only for such senders
confirm    1         a "taken" ACK the listener runs only once the proxy    A O
                     confirms it; in PONG: this proxy confirms
again      1         the listener asks again (its verdict was lost): the    A
                     proxy answers what it confirmed, if it did
age        float     s the listener's I/O loop may have stood still while   A
                     it had the message (its last stall, or lateness below
                     a stall), with confirm
beat       float     the listener's heartbeat_interval, with confirm        A
verdict    str       CONFIRM: "confirmed" (run it) or "refused" (do not:    C
                     the sender was told "released")
targets    [[4str]]  REGISTER: (kind, exchange, topic, server-or-pool)      R
=========  ========  =====================================================  ==================

Columns "in": S SEND, D DELIVER, A ACK, P REPLY, T STATUS, R REGISTER,
C CONFIRM, O PONG.  HELLO and UNREGISTER carry an empty map.

CONFIRM closes the window between a worker taking a cast and its "taken"
reaching the sender: a listener frozen in that window could run a cast its
sender meanwhile gave to another listener.  The proxy that relays a "taken"
with ``confirm`` judges whether it is late: the listener was silent on this
proxy, or (its ``age``) on any, for about ``peer_timeout``, so another proxy
may have forgotten it and routed the cast elsewhere; or the proxy itself was
stalled with the "taken" in its socket, so the listener may have sent it
again through another proxy, which judged it already.  A late one
goes on to the sender as "released" and is answered "refused"; any other is
relayed and answered "confirmed".  Answers are batched per listener.

The BODY of SEND/DELIVER is JSON ``{"ctxt": …, "msg": …, "monitor": s?}``
(``B_*``): the request context, the oslo.messaging message, and for calls with
call-monitoring the caller's ``call_monitor_timeout``.  The BODY of a REPLY is
JSON ``{"result": …, "failure": …}``.
"""

from __future__ import annotations

from typing import Any

import msgpack

VERSION = 3
MAGIC = b"OMZ" + bytes([VERSION])
_PREFIX_LEN = len(MAGIC) + 1 + 2

# peer -> proxy
HELLO = b"H"  # client liveness ping (proxy answers PONG)
REGISTER = b"R"  # listener: full list of its targets; doubles as heartbeat
UNREGISTER = b"U"  # listener going away
SEND = b"S"  # a cast / call / notification
ACK = b"A"  # end-to-end delivery state (listener -> proxy -> sender)
REPLY = b"P"  # call reply or call-monitor heartbeat (listener -> proxy -> caller)
# proxy -> peer
PONG = b"O"
DELIVER = b"D"  # a message for a listener
STATUS = b"T"  # the proxy's own answer to a sender
CONFIRM = b"C"  # the proxy's verdict on "taken" ACKs that asked for one

TYPES = frozenset({HELLO, REGISTER, UNREGISTER, SEND, ACK, REPLY, PONG, DELIVER, STATUS, CONFIRM})

F_ID = "id"
F_KIND = "kind"
F_EXCHANGE = "exchange"
F_TOPIC = "topic"
F_SERVER = "server"
F_FANOUT = "fanout"
F_CALL = "call"
F_MANDATORY = "mandatory"
F_TTL = "ttl"
F_SEQ = "seq"
F_PIN = "pin"
F_FROM = "from"
F_ACK = "ack"
F_HELD = "held"
F_TO = "to"
F_BY = "by"
F_STATE = "state"
F_HB = "hb"
F_STATUS = "status"
F_WHY = "why"
F_COPIES = "copies"
F_TRY = "try"
F_TARGETS = "targets"
F_IDS = "ids"
F_BATCH = "batch"  # in ACKs of a batching notification listener: its batch_size
F_CONFIRM = "confirm"
F_AGE = "age"
F_BEAT = "beat"
F_AGAIN = "again"
F_VERDICT = "verdict"
F_IDS_OK = "idsok"  # SEND/DELIVER of a cast: its sender reads "taken" ACKs with ids

B_CONTEXT = "ctxt"
B_MESSAGE = "msg"
B_MONITOR_TIMEOUT = "monitor"

# ACK states
TAKEN = "taken"
WAITING = "waiting"
RELEASED = "released"
ACK_STATES = frozenset({TAKEN, WAITING, RELEASED})

# CONFIRM verdicts
CONFIRMED = "confirmed"
REFUSED = "refused"

# STATUS values
ROUTED = "routed"
HELD = "held"
DROPPED = "dropped"
BUSY = "busy"
NO_LISTENER = "no listener"
# why a CURVE peer is refused (STATUS dropped); a STATUS without a message id
# answers a HELLO/REGISTER: the peer's key itself is refused
KEY_REVOKED = "key revoked"
NOT_PERMITTED = "not permitted"

MAX_HEADER_BYTES = 64 * 1024 - 1  # HLEN is two bytes
MAX_NAME_LEN = 512
MAX_TARGETS = 1024
MAX_SEQ = 2**62
MAX_IDS = 1024

# target kinds used in registrations and messages
RPC = "r"
NOTIFY = "n"


class WireError(ValueError):
    """A frame sequence that does not follow the protocol."""


def encode(mtype: bytes, header: dict[str, Any], body: bytes | None = None) -> list[bytes]:
    """The frames of one message (one frame: a list, as sockets and the proxy send lists)."""
    packed = _packb(header)
    if len(packed) > MAX_HEADER_BYTES:
        raise WireError("header too large")
    prefix = MAGIC + mtype + len(packed).to_bytes(2, "big")
    if body:
        return [b"".join((prefix, packed, body))]
    return [prefix + packed]


def _packb(header: dict[str, Any]) -> bytes:
    return msgpack.packb(header, use_bin_type=True)


def decode(frames: list[bytes]) -> tuple[bytes, dict[str, Any], bytes | None]:
    """Validate and split one message; raise WireError when malformed.

    The body is None when the message has none (an empty BODY)."""
    if len(frames) != 1:
        raise WireError("bad frame count %d" % len(frames))
    frame = frames[0]
    if len(frame) < _PREFIX_LEN or frame[:4] != MAGIC:
        raise WireError("bad magic")
    mtype = frame[4:5]
    if mtype not in TYPES:
        raise WireError("unknown type")
    end = _PREFIX_LEN + int.from_bytes(frame[5:7], "big")
    if end > len(frame):
        raise WireError("truncated header")
    try:
        header = _unpackb(frame[_PREFIX_LEN:end])
    except Exception as exc:  # msgpack raises many different types
        raise WireError("undecodable header: %s" % type(exc).__name__) from None
    if not isinstance(header, dict):
        raise WireError("header is not a map")
    return mtype, header, (frame[end:] or None)


_UNPACKER_LIMITS = {
    "raw": False,
    "strict_map_key": True,
    "max_str_len": MAX_HEADER_BYTES,
    "max_bin_len": MAX_HEADER_BYTES,
    "max_array_len": MAX_TARGETS * 8,
    "max_map_len": 64,
}


def _unpackb(data: bytes) -> Any:
    return msgpack.unpackb(data, **_UNPACKER_LIMITS)


def version_of(frames: list[bytes]) -> int | None:
    """The protocol version a message that did not decode claims (None: not this protocol)."""
    if not frames:
        return None
    first = bytes(frames[0][:4])
    if len(first) == 4 and first.startswith(MAGIC[:3]):
        return first[3]
    return None


def get_str(header: dict[str, Any], key: str, required: bool = True) -> str | None:
    """Fetch a bounded string field (None/missing allowed unless required)."""
    value = header.get(key)
    if value is None:
        if required:
            raise WireError("missing %s" % key)
        return None
    if not isinstance(value, str) or len(value) > MAX_NAME_LEN:
        raise WireError("bad %s" % key)
    return value


def get_num(header: dict[str, Any], key: str, default: float = 0.0) -> float:
    value = header.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise WireError("bad %s" % key)
    return float(value)


def get_seq(header: dict[str, Any]) -> int | None:
    value = header.get(F_SEQ)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < MAX_SEQ:
        raise WireError("bad seq")
    return value


def get_ident(header: dict[str, Any], key: str, required: bool = True) -> bytes | None:
    """A routing id sent as hex (to / pin)."""
    text = get_str(header, key, required)
    if text is None:
        return None
    try:
        ident = bytes.fromhex(text)
    except ValueError:
        raise WireError("bad %s" % key) from None
    if not ident or len(ident) > 255:
        raise WireError("bad %s" % key)
    return ident


def get_ids(header: dict[str, Any]) -> list[str] | None:
    value = header.get(F_IDS)
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > MAX_IDS:
        raise WireError("bad ids")
    for item in value:
        if not isinstance(item, str) or len(item) > MAX_NAME_LEN:
            raise WireError("bad ids")
    return value


def parse_targets(header: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """Targets of a REGISTER: list of (kind, exchange, topic, server-or-pool)."""
    raw = header.get(F_TARGETS)
    if not isinstance(raw, list) or len(raw) > MAX_TARGETS:
        raise WireError("bad targets")
    out = []
    for item in raw:
        if not isinstance(item, list) or len(item) != 4:
            raise WireError("bad target")
        if item[0] not in (RPC, NOTIFY):
            raise WireError("bad target kind")
        for part in item:
            if not isinstance(part, str) or len(part) > MAX_NAME_LEN:
                raise WireError("bad target field")
        if not item[2]:
            raise WireError("empty topic")
        out.append((item[0], item[1], item[2], item[3]))
    return out


def target_label(kind: str, exchange: str, topic: str) -> str:
    """Stable name of a target in metrics: 'rpc/<exchange>/<topic>' or 'notify/...'."""
    return "%s/%s/%s" % ("rpc" if kind == RPC else "notify", exchange, topic)
