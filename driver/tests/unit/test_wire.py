import msgpack
import pytest

from oslo_messaging_zmq import wire


def _frame(mtype: bytes, header: bytes, body: bytes = b"", magic: bytes = wire.MAGIC) -> bytes:
    return magic + mtype + len(header).to_bytes(2, "big") + header + body


def test_round_trip():
    frames = wire.encode(wire.SEND, {"id": "abc", "k": "r"}, b"body")
    assert len(frames) == 1 and frames[0].startswith(wire.MAGIC + wire.SEND)
    mtype, header, body = wire.decode(frames)
    assert (mtype, header, body) == (wire.SEND, {"id": "abc", "k": "r"}, b"body")
    assert wire.decode(wire.encode(wire.HELLO, {}))[2] is None


def test_a_body_that_looks_like_msgpack_stays_the_body():
    inner = msgpack.packb({"id": "forged"})
    mtype, header, body = wire.decode(wire.encode(wire.REPLY, {"id": "x"}, inner))
    assert header == {"id": "x"} and body == inner


@pytest.mark.parametrize(
    "frames",
    [
        [],
        [b"x"],
        [b"OMZ\x03S"],
        [_frame(wire.SEND, msgpack.packb({}), magic=b"bad!")],
        [_frame(b"?", msgpack.packb({}))],
        [_frame(wire.SEND, b"\xc1")],
        [_frame(wire.SEND, msgpack.packb([1, 2]))],
        [wire.MAGIC + wire.SEND + (200).to_bytes(2, "big") + msgpack.packb({})],
        [_frame(wire.SEND, msgpack.packb({})), b"second frame"],
        # version 2: [MAGIC, TYPE, HEADER, BODY]
        [b"OMZ\x02", wire.SEND, msgpack.packb({}), b"body"],
    ],
)
def test_malformed_is_rejected(frames):
    with pytest.raises(wire.WireError):
        wire.decode(frames)


def test_header_too_large_is_refused_when_encoding():
    with pytest.raises(wire.WireError):
        wire.encode(wire.SEND, {"id": "x" * wire.MAX_HEADER_BYTES})


def test_version_of_an_undecodable_message():
    assert wire.version_of([b"OMZ\x02", wire.SEND, b"", b""]) == 2
    assert wire.version_of(wire.encode(wire.HELLO, {})) == wire.VERSION
    assert wire.version_of([b"GET / HTTP/1.1"]) is None
    assert wire.version_of([]) is None


def test_field_validation():
    assert wire.get_str({"t": "x"}, "t") == "x"
    assert wire.get_str({}, "s", required=False) is None
    for bad in ({"t": 1}, {"t": "x" * (wire.MAX_NAME_LEN + 1)}, {}):
        with pytest.raises(wire.WireError):
            wire.get_str(bad, "t")
    assert wire.get_num({"ttl": 2}, "ttl") == 2.0
    with pytest.raises(wire.WireError):
        wire.get_num({"ttl": True}, "ttl")


def test_parse_targets():
    good = {"targets": [["r", "ex", "topic", "srv"], ["n", "ex", "t.info", ""]]}
    assert wire.parse_targets(good) == [("r", "ex", "topic", "srv"), ("n", "ex", "t.info", "")]
    for bad in ("x", [["r"]], [["q", "e", "t", ""]], [["r", "e", "", ""]], [[1, 2, 3, 4]]):
        with pytest.raises(wire.WireError):
            wire.parse_targets({"targets": bad})


def test_target_label():
    assert wire.target_label(wire.RPC, "openstack", "compute") == "rpc/openstack/compute"
    assert wire.target_label(wire.NOTIFY, "nova", "n.info") == "notify/nova/n.info"


def test_seq_ids_and_routing_ids():
    assert wire.get_seq({}) is None
    assert wire.get_seq({wire.F_SEQ: 7}) == 7
    for bad in (-1, True, 1.5, wire.MAX_SEQ, "1"):
        with pytest.raises(wire.WireError):
            wire.get_seq({wire.F_SEQ: bad})
    assert wire.get_ident({wire.F_TO: "ab01"}, wire.F_TO) == b"\xab\x01"
    assert wire.get_ident({}, wire.F_PIN, required=False) is None
    for bad in ("zz", "", "ab" * 300):
        with pytest.raises(wire.WireError):
            wire.get_ident({wire.F_TO: bad}, wire.F_TO)
    assert wire.get_ids({wire.F_IDS: ["a", "b"]}) == ["a", "b"]
    for bad in ("a", [1], ["a"] * (wire.MAX_IDS + 1)):
        with pytest.raises(wire.WireError):
            wire.get_ids({wire.F_IDS: bad})


def test_handshake_failure_messages_name_the_cause():
    import errno

    import zmq

    from oslo_messaging_zmq.links import describe_handshake_failure

    assert "allowed_clients" in describe_handshake_failure(zmq.EVENT_HANDSHAKE_FAILED_AUTH, 400)
    assert "security_mode" in describe_handshake_failure(zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL, 1)
    reset = describe_handshake_failure(zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL, errno.ECONNRESET)
    assert "ECONNRESET" in reset and "key" not in reset
    assert "key files" in describe_handshake_failure(zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL, 1)
