"""CURVE key files, the keygen command and socket security setup.

Key files use ZeroMQ's certificate layout (ZPL text), so they are also readable
by ``zmq.auth.load_certificate``::

    NAME.key         public key only, mode 0644
    NAME.key_secret  public + secret key, mode 0600

    curve
        public-key = "<40 Z85 characters>"
        secret-key = "<40 Z85 characters>"     (only in NAME.key_secret)

A file holding one bare 40-character Z85 key per line is accepted wherever a
public key is read (handy for an allowed-clients list).

A public key file in the proxy's allowed_clients directory may carry the
client's permissions in its ``metadata`` section (see acl.py)::

    metadata
        listen = "nova:compute/cmp1"
        send = "nova:conductor nova:scheduler"
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from dataclasses import dataclass, field

import zmq
from zmq.utils import z85

from oslo_messaging_zmq import acl

_KEY_RE = re.compile(r'^\s*(public|secret)-key\s*=\s*"?([^"\s]{40})"?\s*$')
_BARE_RE = re.compile(r"^\s*([0-9A-Za-z.\-:+=^!/*?&<>()\[\]{}@%$#]{40})\s*$")


_META_RE = re.compile(r'^\s+([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(?:"([^"]*)"|([^"\s]*))\s*$')


class KeyFileError(Exception):
    """A key file is missing, unreadable or malformed."""


@dataclass(frozen=True)
class AllowedKey:
    """One client key the proxy admits: where it comes from and its metadata."""

    name: str  # the key file's name, or "<list file>:<key prefix>"
    metadata: dict[str, str] = field(default_factory=dict)
    # what the key may listen on and send to; None: everything (no metadata)
    permissions: acl.Permissions | None = None


def _valid_z85(key: str) -> bool:
    try:
        return len(z85.decode(key.encode("ascii"))) == 32
    except Exception:
        return False


def read_key_file(path: str) -> dict[str, bytes]:
    """Return {'public': b'...', 'secret': b'...'} (Z85 bytes) from a key file."""
    try:
        with open(path, encoding="ascii") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyFileError("cannot read key file %s: %s" % (path, exc)) from None
    keys: dict[str, bytes] = {}
    for line in text.splitlines():
        match = _KEY_RE.match(line)
        if match and _valid_z85(match.group(2)):
            keys[match.group(1)] = match.group(2).encode("ascii")
    if not keys:
        bare = [m.group(1) for m in map(_BARE_RE.match, text.splitlines()) if m]
        if len(bare) == 1 and _valid_z85(bare[0]):
            keys["public"] = bare[0].encode("ascii")
    if not keys:
        raise KeyFileError("no CURVE key found in %s" % path)
    return keys


def read_metadata(path: str, text: str) -> dict[str, str]:
    """The ``metadata`` section of a certificate: {name: value}; KeyFileError when malformed."""
    out: dict[str, str] = {}
    inside = False
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line[0].isspace():
            inside = line.strip() == "metadata"
            continue
        if not inside:
            continue
        match = _META_RE.match(line)
        if match is None:
            raise KeyFileError("%s line %d: malformed metadata entry %r" % (path, number, line))
        out[match.group(1)] = match.group(2) if match.group(2) is not None else match.group(3)
    return out


def read_allowed_clients(path: str) -> tuple[dict[str, AllowedKey], list[str]]:
    """The admitted client keys of a directory of *.key files or of one list file.

    Returns ({Z85 public key: AllowedKey}, errors): a malformed file is named in
    errors and skipped; every other file is still read.  KeyFileError when path
    itself cannot be read.
    """
    keys: dict[str, AllowedKey] = {}
    errors: list[str] = []
    if not os.path.isdir(path):
        for key in sorted(read_public_keys(path)):
            keys[key.decode()] = AllowedKey("%s:%s" % (os.path.basename(path), key.decode()[:8]))
        return keys, errors
    try:
        names = sorted(os.listdir(path))
    except OSError as exc:
        raise KeyFileError("cannot read %s: %s" % (path, exc)) from None
    for name in names:
        if not name.endswith(".key"):
            continue
        full = os.path.join(path, name)
        try:
            public = read_key_file(full).get("public")
            if public is None:
                raise KeyFileError("no public key in %s" % full)
            with open(full, encoding="ascii") as handle:
                metadata = read_metadata(full, handle.read())
            permissions = acl.from_metadata(metadata)
        except ValueError as exc:  # a malformed permission pattern, or not ASCII text
            errors.append("%s: %s" % (full, exc))
            continue
        except (KeyFileError, OSError) as exc:
            errors.append(str(exc))
            continue
        other = keys.get(public.decode())
        if other is not None:
            errors.append("%s holds the same key as %s: ignored" % (full, other.name))
            continue
        keys[public.decode()] = AllowedKey(name, metadata, permissions)
    return keys, errors


def read_public_keys(path: str) -> set[bytes]:
    """All public keys of a directory of *.key files or of one list file."""
    keys: set[bytes] = set()
    if os.path.isdir(path):
        for name in sorted(os.listdir(path)):
            if name.endswith(".key"):
                try:
                    keys.add(read_key_file(os.path.join(path, name))["public"])
                except (KeyFileError, KeyError):
                    continue
        return keys
    try:
        with open(path, encoding="ascii") as handle:
            lines = handle.read().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyFileError("cannot read %s: %s" % (path, exc)) from None
    for line in lines:
        match = _KEY_RE.match(line)
        if match and match.group(1) == "public" and _valid_z85(match.group(2)):
            keys.add(match.group(2).encode("ascii"))
            continue
        match = _BARE_RE.match(line)
        if match and _valid_z85(match.group(1)):
            keys.add(match.group(1).encode("ascii"))
    return keys


def _render(public: bytes, secret: bytes | None) -> str:
    lines = [
        "#   ****  CURVE key written by oslo-messaging-zmq-keygen  ****",
        "#   ZeroMQ CURVE %s certificate" % ("secret" if secret else "public"),
        "metadata",
        "curve",
        '    public-key = "%s"' % public.decode("ascii"),
    ]
    if secret:
        lines.append('    secret-key = "%s"' % secret.decode("ascii"))
    return "\n".join(lines) + "\n"


def write_key_pair(out_dir: str, name: str, force: bool = False) -> tuple[str, str]:
    """Create NAME.key and NAME.key_secret in out_dir; refuse to overwrite unless force."""
    if not re.match(r"^[A-Za-z0-9_.\-]+$", name) or name.startswith("."):
        raise ValueError("invalid key name %r" % name)
    os.makedirs(out_dir, exist_ok=True)
    public_path = os.path.join(out_dir, name + ".key")
    secret_path = os.path.join(out_dir, name + ".key_secret")
    if not force and (os.path.exists(public_path) or os.path.exists(secret_path)):
        raise FileExistsError("%s or %s already exists" % (public_path, secret_path))
    public, secret = zmq.curve_keypair()
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    fd = os.open(secret_path, flags, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(_render(public, secret))
    os.chmod(secret_path, 0o600)
    fd = os.open(public_path, flags, 0o644)
    with os.fdopen(fd, "w") as handle:
        handle.write(_render(public, None))
    return public_path, secret_path


def keygen_main(argv: list[str] | None = None) -> int:
    """oslo-messaging-zmq-keygen --out-dir DIR --name NAME [--force]."""
    parser = argparse.ArgumentParser(
        prog="oslo-messaging-zmq-keygen",
        description="Write a CURVE key pair: NAME.key (public) and NAME.key_secret (0600).",
    )
    parser.add_argument("--out-dir", required=True, help="directory for the key files")
    parser.add_argument("--name", required=True, help="base name of the key files")
    parser.add_argument("--force", action="store_true", help="overwrite existing files")
    args = parser.parse_args(argv)
    try:
        public_path, secret_path = write_key_pair(args.out_dir, args.name, args.force)
    except FileExistsError as exc:
        print("unchanged: %s (use --force to overwrite)" % exc, file=sys.stderr)
        return 2
    except (OSError, ValueError) as exc:
        print("error: %s" % exc, file=sys.stderr)
        return 1
    print(public_path)
    print(secret_path)
    return 0


def configure_client(sock: zmq.Socket, client_keys: dict[str, bytes], server_public: bytes):
    """Make sock a CURVE client of a proxy whose public key is server_public."""
    sock.curve_secretkey = client_keys["secret"]
    sock.curve_publickey = client_keys["public"]
    sock.curve_serverkey = server_public


def configure_server(sock: zmq.Socket, server_keys: dict[str, bytes]) -> None:
    sock.curve_secretkey = server_keys["secret"]
    sock.curve_publickey = server_keys["public"]
    sock.curve_server = True
    sock.zap_domain = b"oslo.messaging.zmq"
