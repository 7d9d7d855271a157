"""Wire format shared by the driver and the proxy.

Every message a peer (DEALER) exchanges with a proxy (ROUTER) is a multipart
message of three or four frames::

    [MAGIC, TYPE, HEADER, BODY?]

MAGIC is b"OMZ\\x01" (protocol version 1), TYPE one byte (see the constants
below), HEADER a msgpack map with short string keys and scalar values that the
proxy reads to route, BODY the opaque payload (JSON of context + message)
which the proxy never decodes nor logs.  On the ROUTER side the routing id of
the peer is prepended by libzmq.
"""

from __future__ import annotations

from typing import Any

import msgpack

MAGIC = b"OMZ\x01"

# peer -> proxy
HELLO = b"H"  # client liveness ping (proxy answers PONG)
REGISTER = b"R"  # listener: full list of its targets; doubles as heartbeat
UNREGISTER = b"U"  # listener going away
SEND = b"S"  # a cast / call / notification
ACK = b"A"  # end-to-end delivery ack (listener -> proxy -> sender)
REPLY = b"P"  # call reply or call-monitor heartbeat (listener -> proxy -> caller)
# proxy -> peer
PONG = b"O"
DELIVER = b"D"  # a message for a listener
STATUS = b"T"  # proxy's own ack to a sender: routed / held / dropped

TYPES = frozenset({HELLO, REGISTER, UNREGISTER, SEND, ACK, REPLY, PONG, DELIVER, STATUS})

MAX_HEADER_BYTES = 64 * 1024
MAX_NAME_LEN = 512
MAX_TARGETS = 1024

# target kinds used in registrations and messages
RPC = "r"
NOTIFY = "n"


class WireError(ValueError):
    """A frame sequence that does not follow the protocol."""


def encode(mtype: bytes, header: dict[str, Any], body: bytes | None = None) -> list[bytes]:
    frames = [MAGIC, mtype, msgpack.packb(header, use_bin_type=True)]
    if body is not None:
        frames.append(body)
    return frames


def decode(frames: list[bytes]) -> tuple[bytes, dict[str, Any], bytes | None]:
    """Validate and split [MAGIC, TYPE, HEADER, BODY?]; raise WireError when malformed."""
    if len(frames) not in (3, 4):
        raise WireError("bad frame count %d" % len(frames))
    magic, mtype, raw_header = frames[0], frames[1], frames[2]
    if bytes(magic) != MAGIC:
        raise WireError("bad magic")
    mtype = bytes(mtype)
    if mtype not in TYPES:
        raise WireError("unknown type")
    if len(raw_header) > MAX_HEADER_BYTES:
        raise WireError("header too large")
    try:
        header = msgpack.unpackb(
            bytes(raw_header),
            raw=False,
            strict_map_key=True,
            max_str_len=MAX_HEADER_BYTES,
            max_bin_len=MAX_HEADER_BYTES,
            max_array_len=MAX_TARGETS * 8,
            max_map_len=64,
        )
    except Exception as exc:  # msgpack raises many different types
        raise WireError("undecodable header: %s" % type(exc).__name__) from None
    if not isinstance(header, dict):
        raise WireError("header is not a map")
    body = bytes(frames[3]) if len(frames) == 4 else None
    return mtype, header, body


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


def parse_targets(header: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """Targets of a REGISTER: list of (kind, exchange, topic, server-or-pool)."""
    raw = header.get("targets")
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
