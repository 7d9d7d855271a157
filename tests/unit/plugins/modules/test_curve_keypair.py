# Copyright: contributors to the zeromq.openstack collection
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""curve_keypair and its pure-Python CURVE code, checked against the RFCs, pyzmq and the driver."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import pytest
from ansible_collections.zeromq.openstack.plugins.module_utils import curve
from ansible_collections.zeromq.openstack.plugins.modules import curve_keypair

zmq = pytest.importorskip("zmq")
pytest.importorskip("zmq.auth")

BASE_POINT = (9).to_bytes(32, "little")


# -- Z85 (ZeroMQ RFC 32) --------------------------------------------------------


def test_z85_rfc32_test_vector():
    data = bytes([0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B])
    assert curve.z85_encode(data) == "HelloWorld"
    assert curve.z85_decode("HelloWorld") == data


def test_z85_round_trips_and_matches_pyzmq():
    from zmq.utils import z85

    for size in (4, 32, 64):
        data = os.urandom(size)
        text = curve.z85_encode(data)
        assert text == z85.encode(data).decode("ascii")
        assert curve.z85_decode(text) == data
    assert curve.z85_encode(b"\x00" * 4) == "00000"
    assert curve.z85_encode(b"\xff" * 4) == "%nSc0"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("Hello", None),
        ("Hell", "multiple of 5"),
        ("Hell~", "invalid Z85 character"),
        ("Hell o", "multiple of 5"),
        ("#####", "exceeds 32 bits"),
    ],
)
def test_z85_decode_rejects_bad_text(text, problem):
    if problem is None:
        assert len(curve.z85_decode(text)) == 4
        return
    with pytest.raises(curve.CurveKeyError, match=problem):
        curve.z85_decode(text)


def test_z85_encode_needs_whole_groups():
    with pytest.raises(curve.CurveKeyError, match="multiple of 4"):
        curve.z85_encode(b"abc")


# -- X25519 (RFC 7748) ---------------------------------------------------------


@pytest.mark.parametrize(
    ("scalar", "u_coordinate", "expected"),
    [
        # RFC 7748 section 5.2, the two single-multiplication vectors
        (
            "a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
            "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
            "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552",
        ),
        (
            "4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
            "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
            "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957",
        ),
        # RFC 7748 section 5.2, iterated vector after one iteration (k = u = 9)
        (
            "09" + "00" * 31,
            "09" + "00" * 31,
            "422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079",
        ),
    ],
)
def test_x25519_rfc7748_vectors(scalar, u_coordinate, expected):
    result = curve.x25519(bytes.fromhex(scalar), bytes.fromhex(u_coordinate))
    assert result.hex() == expected


def test_x25519_rfc7748_diffie_hellman():
    # RFC 7748 section 6.1
    alice = bytes.fromhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
    bob = bytes.fromhex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb")
    alice_public = curve.x25519(alice, BASE_POINT)
    bob_public = curve.x25519(bob, BASE_POINT)
    assert alice_public.hex() == "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"
    assert bob_public.hex() == "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"
    shared = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742"
    assert curve.x25519(alice, bob_public).hex() == shared
    assert curve.x25519(bob, alice_public).hex() == shared


def test_generated_pairs_match_libzmq():
    for _round in range(20):
        public, secret = curve.generate_keypair()
        assert len(public) == len(secret) == 40
        assert zmq.curve_public(secret.encode()) == public.encode()


def test_public_key_of_a_libzmq_pair():
    public, secret = zmq.curve_keypair()
    assert curve.public_from_secret(secret.decode()) == public.decode()


def test_key_text_parser():
    public, secret = curve.generate_keypair()
    text = curve.render_key_file(public, secret)
    assert curve.parse_key_text(text) == {"public": public, "secret": secret}
    assert curve.parse_key_text(curve.render_key_file(public)) == {"public": public}
    with pytest.raises(curve.CurveKeyError, match="no CURVE key"):
        curve.parse_key_text("metadata\ncurve\n")
    with pytest.raises(curve.CurveKeyError, match="public-key is not a valid Z85 key"):
        curve.parse_key_text(f'curve\n    public-key = "{"~" * 40}"\n')


# -- the module ------------------------------------------------------------------


@pytest.fixture
def key_dir(tmp_path):
    return tmp_path / "keys"


@pytest.fixture
def keypair(run_module, key_dir):
    """Run curve_keypair with path=key_dir and name=svc plus the given options."""

    def run(check_mode=False, diff=False, **options):
        args = {"path": str(key_dir), "name": "svc", **options}
        return run_module(curve_keypair, args, check_mode=check_mode, diff=diff)

    return run


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _read(path) -> str:
    with open(path, encoding="ascii") as handle:
        return handle.read()


def test_creates_a_pair_libzmq_and_the_driver_accept(keypair, key_dir):
    result = keypair()
    assert result["changed"] is True
    public_file, secret_file = key_dir / "svc.key", key_dir / "svc.key_secret"
    assert result["public_key_file"] == str(public_file)
    assert result["secret_key_file"] == str(secret_file)
    assert "secret_key" not in result
    assert _mode(secret_file) == 0o600
    assert _mode(public_file) == 0o644
    public, secret = zmq.auth.load_certificate(str(secret_file))
    assert public.decode() == result["public_key"]
    assert zmq.curve_public(secret) == public
    assert zmq.auth.load_certificate(str(public_file)) == (public, None)
    assert "secret-key" not in _read(public_file)
    assert sorted(os.listdir(key_dir)) == ["svc.key", "svc.key_secret"]  # no temporary files


def test_files_are_read_by_the_driver(keypair, key_dir):
    security = pytest.importorskip("oslo_messaging_zmq.security")
    result = keypair()
    keys = security.read_key_file(str(key_dir / "svc.key_secret"))
    assert keys["public"].decode() == result["public_key"]
    assert zmq.curve_public(keys["secret"]) == keys["public"]
    assert security.read_key_file(str(key_dir / "svc.key")) == {"public": keys["public"]}


def test_second_run_keeps_the_pair(keypair, key_dir):
    first = keypair(return_secret=True)
    texts = (_read(key_dir / "svc.key"), _read(key_dir / "svc.key_secret"))
    second = keypair(return_secret=True)
    assert second["changed"] is False
    assert second["public_key"] == first["public_key"]
    assert second["secret_key"] == first["secret_key"]
    assert (_read(key_dir / "svc.key"), _read(key_dir / "svc.key_secret")) == texts


def test_keeps_a_pair_written_by_the_driver_keygen(keypair, key_dir):
    security = pytest.importorskip("oslo_messaging_zmq.security")
    security.write_key_pair(str(key_dir), "svc")
    expected = security.read_key_file(str(key_dir / "svc.key_secret"))["public"].decode()
    result = keypair()
    assert result["changed"] is False
    assert result["public_key"] == expected


def test_return_secret(keypair, key_dir):
    result = keypair(return_secret=True)
    _public, secret = zmq.auth.load_certificate(str(key_dir / "svc.key_secret"))
    assert result["secret_key"] == secret.decode()


def test_installs_a_given_secret_key(run_module, tmp_path):
    public, secret = zmq.curve_keypair()
    results = []
    for host in ("proxy1", "proxy2"):
        args = {"path": str(tmp_path / host), "name": "proxy", "secret_key": secret.decode()}
        results.append(run_module(curve_keypair, args))
        loaded = zmq.auth.load_certificate(str(tmp_path / host / "proxy.key_secret"))
        assert loaded == (public, secret)
    assert [r["changed"] for r in results] == [True, True]
    assert {r["public_key"] for r in results} == {public.decode()}
    again = run_module(curve_keypair, args)
    assert again["changed"] is False


def test_a_given_secret_key_replaces_another_pair(keypair, key_dir):
    old = keypair()
    public, secret = zmq.curve_keypair()
    result = keypair(secret_key=secret.decode())
    assert result["changed"] is True
    assert result["public_key"] == public.decode() != old["public_key"]
    assert zmq.auth.load_certificate(str(key_dir / "svc.key")) == (public, None)


def test_a_given_secret_key_replaces_a_damaged_file(keypair, key_dir):
    key_dir.mkdir()
    (key_dir / "svc.key_secret").write_text("garbage\n")
    public, secret = zmq.curve_keypair()
    result = keypair(secret_key=secret.decode())
    assert result["changed"] is True
    assert zmq.auth.load_certificate(str(key_dir / "svc.key_secret")) == (public, secret)


def test_invalid_secret_key_is_refused_without_echoing_it(keypair, key_dir):
    bad = "~not-a-key~" * 3
    result = keypair(secret_key=bad)
    assert result["failed"] is True
    assert "secret_key is not a 40-character Z85 CURVE key" in result["msg"]
    assert bad not in json.dumps(result)
    assert not key_dir.exists()


def test_check_mode_writes_nothing(keypair, key_dir):
    result = keypair(check_mode=True, return_secret=True)
    assert result["changed"] is True
    assert result["public_key"] is None
    assert "secret_key" not in result
    assert not key_dir.exists()


def test_check_mode_with_a_given_key_reports_its_public_key(keypair, key_dir):
    public, secret = zmq.curve_keypair()
    result = keypair(check_mode=True, secret_key=secret.decode())
    assert result["changed"] is True
    assert result["public_key"] == public.decode()
    assert not key_dir.exists()


def test_check_mode_on_a_valid_pair(keypair, key_dir):
    created = keypair()
    texts = (_read(key_dir / "svc.key"), _read(key_dir / "svc.key_secret"))
    assert keypair(check_mode=True)["changed"] is False
    rotated = keypair(check_mode=True, regenerate=True)
    assert rotated["changed"] is True
    assert keypair(check_mode=True, mode="0640")["changed"] is True
    assert (_read(key_dir / "svc.key"), _read(key_dir / "svc.key_secret")) == texts
    assert _mode(key_dir / "svc.key_secret") == 0o600
    assert keypair()["public_key"] == created["public_key"]


def test_regenerate_rotates_the_pair(keypair, key_dir):
    first = keypair()
    second = keypair(regenerate=True)
    assert second["changed"] is True
    assert second["public_key"] != first["public_key"]
    public, secret = zmq.auth.load_certificate(str(key_dir / "svc.key_secret"))
    assert public.decode() == second["public_key"]
    assert zmq.curve_public(secret) == public


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("not a certificate\n", "no CURVE key found"),
        (f'curve\n    public-key = "{"~" * 40}"\n', "not a valid Z85 key"),
        ("public only", "holds no secret-key"),
        ("mismatch", "does not belong to its secret-key"),
        (b"\xff\xfe binary", "cannot read"),
    ],
)
def test_damaged_secret_file_is_an_error_naming_it(keypair, key_dir, content, problem):
    key_dir.mkdir()
    secret_file = key_dir / "svc.key_secret"
    if content == "public only":
        content = curve.render_key_file(curve.generate_keypair()[0])
    elif content == "mismatch":
        content = curve.render_key_file(curve.generate_keypair()[0], curve.generate_keypair()[1])
    if isinstance(content, bytes):
        secret_file.write_bytes(content)
    else:
        secret_file.write_text(content)
    before = secret_file.read_bytes()
    result = keypair()
    assert result["failed"] is True
    assert str(secret_file) in result["msg"]
    assert problem in result["msg"]
    assert "regenerate=true" in result["msg"]
    assert secret_file.read_bytes() == before
    repaired = keypair(regenerate=True)
    assert repaired["changed"] is True
    loaded = zmq.auth.load_certificate(str(secret_file))
    assert loaded[0].decode() == repaired["public_key"]


def test_missing_or_stale_public_file_is_rewritten(keypair, key_dir):
    created = keypair()
    public_file = key_dir / "svc.key"
    public_file.unlink()
    restored = keypair()
    assert restored["changed"] is True
    assert restored["public_key"] == created["public_key"]
    assert zmq.auth.load_certificate(str(public_file))[0].decode() == created["public_key"]
    public_file.write_text(curve.render_key_file(curve.generate_keypair()[0]))
    assert keypair()["changed"] is True
    assert zmq.auth.load_certificate(str(public_file))[0].decode() == created["public_key"]
    assert keypair()["changed"] is False


def test_public_file_without_secret_file_is_not_replaced(keypair, key_dir):
    key_dir.mkdir()
    public_file = key_dir / "svc.key"
    text = curve.render_key_file(curve.generate_keypair()[0])
    public_file.write_text(text)
    result = keypair()
    assert result["failed"] is True
    assert str(public_file) in result["msg"]
    assert public_file.read_text() == text


def test_mode_owner_and_group(keypair, key_dir):
    keypair(mode="0640")
    assert _mode(key_dir / "svc.key_secret") == 0o640
    assert _mode(key_dir / "svc.key") == 0o644
    assert keypair(mode="0640")["changed"] is False
    assert keypair(mode="u=rw,g=,o=")["changed"] is True
    assert _mode(key_dir / "svc.key_secret") == 0o600
    if os.geteuid() != 0:
        pytest.skip("owner and group changes need root")
    result = keypair(owner="nobody", group="daemon", diff=True)
    assert result["changed"] is True
    import grp
    import pwd

    for name in ("svc.key", "svc.key_secret"):
        info = os.stat(key_dir / name)
        assert pwd.getpwuid(info.st_uid).pw_name == "nobody"
        assert grp.getgrgid(info.st_gid).gr_name == "daemon"
    assert result["diff"]["after"]["secret_key_file"]["owner"] == pwd.getpwnam("nobody").pw_uid
    assert keypair(owner="nobody", group="daemon")["changed"] is False


def test_diff_never_shows_the_secret(keypair, key_dir):
    result = keypair(diff=True, return_secret=True)
    diff = json.dumps(result["diff"])
    assert result["secret_key"] not in diff
    assert result["diff"]["before"]["state"] == "absent"
    assert result["diff"]["after"]["public_key"] == result["public_key"]
    rotated = keypair(diff=True, regenerate=True)
    assert rotated["diff"]["before"]["public_key"] == result["public_key"]
    assert rotated["diff"]["after"]["public_key"] == rotated["public_key"]


def test_absent_removes_both_files(keypair, key_dir):
    keypair()
    assert keypair(state="absent", check_mode=True)["changed"] is True
    assert sorted(os.listdir(key_dir)) == ["svc.key", "svc.key_secret"]
    result = keypair(state="absent")
    assert result["changed"] is True
    assert result["public_key"] is None
    assert os.listdir(key_dir) == []
    assert keypair(state="absent")["changed"] is False


@pytest.mark.parametrize("name", [".hidden", "a/b", "", "x y"])
def test_invalid_names_are_refused(run_module, key_dir, name):
    result = run_module(curve_keypair, {"path": str(key_dir), "name": name})
    assert result["failed"] is True
    assert "name must be" in result["msg"]


def test_secret_key_and_regenerate_exclude_each_other(keypair):
    result = keypair(secret_key=zmq.curve_keypair()[1].decode(), regenerate=True)
    assert result["failed"] is True
    assert "mutually exclusive" in result["msg"]


def test_path_that_is_a_file_is_an_error(run_module, tmp_path):
    target = tmp_path / "afile"
    target.write_text("x")
    result = run_module(curve_keypair, {"path": str(target), "name": "svc"})
    assert result["failed"] is True
    assert "is not a directory" in result["msg"]


def test_runs_as_a_standalone_program(tmp_path):
    """The module file run the way Ansible's module debugging runs it: args file, own process."""
    args_file = tmp_path / "args.json"
    args = {"path": str(tmp_path / "keys"), "name": "svc", "mode": "0640"}
    args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
    module_file = os.path.join(os.path.dirname(curve_keypair.__file__), "curve_keypair.py")
    env = dict(os.environ)
    proc = subprocess.run(
        [sys.executable, module_file, str(args_file)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["changed"] is True
    assert _mode(tmp_path / "keys" / "svc.key_secret") == 0o640
    loaded = zmq.auth.load_certificate(str(tmp_path / "keys" / "svc.key_secret"))
    assert loaded[0].decode() == result["public_key"]


def test_library_link_points_at_the_module():
    root = curve_keypair.__file__.rsplit(os.sep + "plugins" + os.sep, 1)[0]
    link = os.path.join(root, "library", "curve_keypair.py")
    if not os.path.lexists(link):
        pytest.skip("no library/ in this tree (installed collection)")
    assert os.readlink(link) == "../plugins/modules/curve_keypair.py"
    assert os.path.samefile(link, curve_keypair.__file__)
