import os
import stat

import pytest
import zmq.auth

from oslo_messaging_zmq import security


def test_keygen_writes_pair_with_modes_and_refuses_overwrite(tmp_path, capsys):
    out = str(tmp_path / "keys")
    assert security.keygen_main(["--out-dir", out, "--name", "nova"]) == 0
    public, secret = os.path.join(out, "nova.key"), os.path.join(out, "nova.key_secret")
    assert stat.S_IMODE(os.stat(secret).st_mode) == 0o600
    keys = security.read_key_file(secret)
    assert set(keys) == {"public", "secret"}
    assert security.read_key_file(public) == {"public": keys["public"]}
    # the same layout zmq.auth reads
    assert zmq.auth.load_certificate(secret) == (keys["public"], keys["secret"])
    before = open(secret).read()
    assert security.keygen_main(["--out-dir", out, "--name", "nova"]) == 2
    assert open(secret).read() == before
    assert security.keygen_main(["--out-dir", out, "--name", "nova", "--force"]) == 0
    assert open(secret).read() != before
    assert security.keygen_main(["--out-dir", out, "--name", "../evil"]) == 1


def test_public_keys_from_directory_and_list_file(tmp_path):
    pub_a, _ = security.write_key_pair(str(tmp_path), "a")
    pub_b, _ = security.write_key_pair(str(tmp_path), "b")
    (tmp_path / "junk.key").write_text("not a key\n")
    keys = security.read_public_keys(str(tmp_path))
    expected = {security.read_key_file(p)["public"] for p in (pub_a, pub_b)}
    assert keys == expected
    listing = tmp_path / "allowed.txt"
    listing.write_text("# allowed\n" + "\n".join(k.decode() for k in expected) + "\nbogus\n")
    assert security.read_public_keys(str(listing)) == expected


def test_bad_key_files(tmp_path):
    with pytest.raises(security.KeyFileError):
        security.read_key_file(str(tmp_path / "missing"))
    bad = tmp_path / "bad.key"
    bad.write_text('curve\n    public-key = "short"\n')
    with pytest.raises(security.KeyFileError):
        security.read_key_file(str(bad))
