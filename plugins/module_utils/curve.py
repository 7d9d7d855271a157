# Copyright: contributors to the zeromq.openstack collection
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""ZeroMQ CURVE keys in pure Python: X25519, Z85 and the key file format.

Managed hosts need no pyzmq or libsodium to get a key pair:

* X25519 follows RFC 7748 section 5 (clamped scalar, Montgomery ladder on
  Curve25519 with a24 = 121665).  ZeroMQ's CURVE public key is
  X25519(secret, 9), exactly what libsodium's crypto_scalarmult_base returns.
  Python integers are not constant-time; the ladder runs once per key
  generation on the host that owns the key, never on remote input.
* Z85 follows ZeroMQ RFC 32 (4 bytes big-endian <-> 5 characters).
* Key files are the ZPL certificates that oslo-messaging-zmq-keygen writes and
  that oslo_messaging_zmq.security.read_key_file (and zmq.auth) reads:
  NAME.key holds the public key, NAME.key_secret the public and secret key.
"""

from __future__ import annotations

import os
import re

KEY_BYTES = 32
Z85_KEY_LENGTH = 40

# RFC 7748 section 4.1: p = 2^255 - 19, and the ladder constant (A - 2) / 4.
_P = 2**255 - 19
_A24 = 121665
_BASE_POINT = 9

# ZeroMQ RFC 32: the 85 characters, in value order.
Z85_ALPHABET = (
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#"
)
_Z85_VALUE = {char: index for index, char in enumerate(Z85_ALPHABET)}

# One "public-key = ..." / "secret-key = ..." line of a ZPL certificate; the
# value may be quoted.  Same acceptance as the driver's reader.
_KEY_LINE = re.compile(r'^\s*(public|secret)-key\s*=\s*"?([^"\s]{40})"?\s*$')
_NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")


class CurveKeyError(ValueError):
    """A key or a key file is malformed."""


# -- Z85 (ZeroMQ RFC 32) ------------------------------------------------------


def z85_encode(data: bytes) -> str:
    """Encode bytes whose length is a multiple of 4 as Z85 text."""
    if len(data) % 4:
        raise CurveKeyError(f"Z85 needs a multiple of 4 bytes, got {len(data)}")
    out = []
    for offset in range(0, len(data), 4):
        value = int.from_bytes(data[offset : offset + 4], "big")
        chunk = []
        for _index in range(5):
            value, digit = divmod(value, 85)
            chunk.append(Z85_ALPHABET[digit])
        out.extend(reversed(chunk))
    return "".join(out)


def z85_decode(text: str) -> bytes:
    """Decode Z85 text whose length is a multiple of 5; raise CurveKeyError if invalid."""
    if len(text) % 5:
        raise CurveKeyError(f"Z85 needs a multiple of 5 characters, got {len(text)}")
    out = bytearray()
    for offset in range(0, len(text), 5):
        value = 0
        for char in text[offset : offset + 5]:
            digit = _Z85_VALUE.get(char)
            if digit is None:
                raise CurveKeyError(f"invalid Z85 character {char!r}")
            value = value * 85 + digit
        if value > 0xFFFFFFFF:
            group = text[offset : offset + 5]
            raise CurveKeyError(f"Z85 group {group!r} exceeds 32 bits")
        out += value.to_bytes(4, "big")
    return bytes(out)


def decode_key(text: str) -> bytes:
    """The 32 bytes of a 40-character Z85 key."""
    if not isinstance(text, str) or len(text) != Z85_KEY_LENGTH:
        raise CurveKeyError(f"a CURVE key is {Z85_KEY_LENGTH} Z85 characters")
    return z85_decode(text)


# -- X25519 (RFC 7748) --------------------------------------------------------


def _clamp(scalar: bytes) -> int:
    raw = bytearray(scalar)
    raw[0] &= 248
    raw[31] &= 127
    raw[31] |= 64
    return int.from_bytes(raw, "little")


def _cswap(swap: int, first: int, second: int) -> tuple[int, int]:
    # Arithmetic swap without a branch on the key bit (swap is 0 or 1).
    mask = -swap
    dummy = mask & (first ^ second)
    return first ^ dummy, second ^ dummy


def x25519(scalar: bytes, u_coordinate: bytes) -> bytes:
    """RFC 7748 X25519: the u-coordinate of scalar * (u, ...) on Curve25519."""
    if len(scalar) != KEY_BYTES or len(u_coordinate) != KEY_BYTES:
        raise CurveKeyError("X25519 takes 32-byte scalars and u-coordinates")
    k = _clamp(scalar)
    u_raw = bytearray(u_coordinate)
    u_raw[31] &= 127
    x_1 = int.from_bytes(u_raw, "little") % _P
    x_2, z_2 = 1, 0
    x_3, z_3 = x_1, 1
    swap = 0
    for bit_index in range(254, -1, -1):
        k_t = (k >> bit_index) & 1
        swap ^= k_t
        x_2, x_3 = _cswap(swap, x_2, x_3)
        z_2, z_3 = _cswap(swap, z_2, z_3)
        swap = k_t
        a = (x_2 + z_2) % _P
        aa = a * a % _P
        b = (x_2 - z_2) % _P
        bb = b * b % _P
        e = (aa - bb) % _P
        c = (x_3 + z_3) % _P
        d = (x_3 - z_3) % _P
        da = d * a % _P
        cb = c * b % _P
        x_3 = (da + cb) * (da + cb) % _P
        z_3 = x_1 * (da - cb) * (da - cb) % _P
        x_2 = aa * bb % _P
        z_2 = e * (aa + _A24 * e) % _P
    x_2, x_3 = _cswap(swap, x_2, x_3)
    z_2, z_3 = _cswap(swap, z_2, z_3)
    result = x_2 * pow(z_2, _P - 2, _P) % _P
    return result.to_bytes(KEY_BYTES, "little")


def public_from_secret(secret_z85: str) -> str:
    """The Z85 public key of a Z85 secret key (what zmq.curve_public returns)."""
    secret = decode_key(secret_z85)
    return z85_encode(x25519(secret, _BASE_POINT.to_bytes(KEY_BYTES, "little")))


def generate_keypair() -> tuple[str, str]:
    """A new (public, secret) CURVE key pair in Z85, from the OS random source."""
    secret = z85_encode(os.urandom(KEY_BYTES))
    return public_from_secret(secret), secret


# -- key files ----------------------------------------------------------------


def valid_name(name: str) -> bool:
    """Same rule as the driver's keygen: a plain file name, not hidden."""
    return bool(_NAME.match(name)) and not name.startswith(".")


def render_key_file(public: str, secret: str | None = None) -> str:
    """ZPL certificate text; with secret it is the NAME.key_secret file."""
    kind = "secret" if secret else "public"
    lines = [
        f"#   ZeroMQ CURVE {kind} certificate",
        "#   written by zeromq.openstack.curve_keypair",
        "metadata",
        "curve",
        f'    public-key = "{public}"',
    ]
    if secret:
        lines.append(f'    secret-key = "{secret}"')
    return "\n".join(lines) + "\n"


def parse_key_text(text: str) -> dict[str, str]:
    """{'public': ..., 'secret': ...} (the keys present) of a certificate's text.

    Raise CurveKeyError when a key line holds invalid Z85 or no key is found.
    """
    keys: dict[str, str] = {}
    for line in text.splitlines():
        match = _KEY_LINE.match(line)
        if not match:
            continue
        kind, value = match.groups()
        try:
            decode_key(value)
        except CurveKeyError as exc:
            raise CurveKeyError(f"{kind}-key is not a valid Z85 key: {exc}") from None
        keys[kind] = value
    if not keys:
        raise CurveKeyError("no CURVE key found")
    return keys


def read_key_file(path: str) -> dict[str, str]:
    """Parse a certificate file; CurveKeyError names the file on any problem."""
    try:
        with open(path, encoding="ascii") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise CurveKeyError(f"cannot read {path}: {exc}") from None
    try:
        return parse_key_text(text)
    except CurveKeyError as exc:
        raise CurveKeyError(f"{path}: {exc}") from None
