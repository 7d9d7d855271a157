import msgpack
import pytest

from oslo_messaging_zmq import wire


def test_round_trip():
    frames = wire.encode(wire.SEND, {"id": "abc", "k": "r"}, b"body")
    assert frames[0] == wire.MAGIC
    mtype, header, body = wire.decode(frames)
    assert (mtype, header, body) == (wire.SEND, {"id": "abc", "k": "r"}, b"body")
    assert wire.decode(wire.encode(wire.HELLO, {}))[2] is None


@pytest.mark.parametrize(
    "frames",
    [
        [],
        [b"x"],
        [b"bad!", wire.SEND, msgpack.packb({})],
        [wire.MAGIC, b"?", msgpack.packb({})],
        [wire.MAGIC, wire.SEND, b"\xc1"],
        [wire.MAGIC, wire.SEND, msgpack.packb([1, 2])],
        [wire.MAGIC, wire.SEND, b"\x00" * (wire.MAX_HEADER_BYTES + 1)],
        [wire.MAGIC, wire.SEND, msgpack.packb({}), b"", b""],
    ],
)
def test_malformed_is_rejected(frames):
    with pytest.raises(wire.WireError):
        wire.decode(frames)


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
