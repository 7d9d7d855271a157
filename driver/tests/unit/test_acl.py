"""Permission patterns and the key-file metadata that carries them."""

import pytest

from oslo_messaging_zmq import acl, security, wire

R, N = wire.RPC, wire.NOTIFY


def perms(listen=None, send=None):
    meta = {k: v for k, v in (("listen", listen), ("send", send)) if v is not None}
    return acl.from_metadata(meta)


@pytest.mark.parametrize(
    ("pattern", "target", "expected"),
    [
        ("nova:compute", (R, "nova", "compute", ""), True),
        ("nova:compute", (R, "nova", "compute", "cmp1"), True),  # any server of the topic
        ("nova:compute", (R, "nova", "compute-x", ""), False),
        ("nova:compute", (R, "neutron", "compute", ""), False),
        ("nova:compute/cmp1", (R, "nova", "compute", "cmp1"), True),
        ("nova:compute/cmp1", (R, "nova", "compute", "cmp2"), False),
        ("nova:compute/cmp1", (R, "nova", "compute", ""), False),
        ("nova:compute/cmp1", (R, "nova", "compute", "cmp10"), False),
        ("neutron:q-agent-notifier-*", (R, "neutron", "q-agent-notifier-port-update", "h"), True),
        ("neutron:q-agent-notifier-*", (R, "neutron", "q-plugin", ""), False),
        ("cinder:cinder-volume/cmp1@*", (R, "cinder", "cinder-volume", "cmp1@lvm"), True),
        ("cinder:cinder-volume/cmp1@*", (R, "cinder", "cinder-volume", "cmp2@lvm"), False),
        ("nova:*", (R, "nova", "conductor", "c1"), True),
        ("nova:*", (N, "nova", "notifications.info", ""), False),  # notifications say so
        ("notify:nova:notifications.*", (N, "nova", "notifications.info", "pool"), True),
        ("notify:*:notifications.info", (N, "glance", "notifications.info", ""), True),
        ("*", (N, "x", "y", "z"), True),
        ("vh/nova:conductor", (R, "vh/nova", "conductor", "c1"), True),
        ("vh/nova:conductor", (R, "nova", "conductor", "c1"), False),
    ],
)
def test_listen_patterns(pattern, target, expected):
    assert perms(listen=pattern).may_listen(target) is expected


def test_fanout_is_granted_explicitly():
    p = perms(send="nova:compute")
    assert p.may_send(R, "nova", "compute", "", False)
    assert p.may_send(R, "nova", "compute", "cmp1", False)
    assert not p.may_send(R, "nova", "compute", "", True)
    assert perms(send="fanout:nova:compute").may_send(R, "nova", "compute", "", True)
    assert perms(send="*").may_send(R, "nova", "compute", "", True)


def test_several_patterns_blank_or_comma_separated_and_empty_grants_nothing():
    p = perms(listen="nova:conductor, nova:scheduler  nova:compute/cmp1", send="")
    assert p.may_listen((R, "nova", "scheduler", "s1"))
    assert p.may_listen((R, "nova", "compute", "cmp1"))
    assert not p.may_listen((R, "nova", "compute", "cmp2"))
    assert not p.may_send(R, "nova", "conductor", "", False)


def test_absent_right_is_unrestricted_and_no_metadata_is_full_rights():
    assert perms() is None
    p = perms(listen="nova:compute/cmp1")
    assert p.may_send(R, "any", "thing", "", True)
    assert not p.may_listen((R, "nova", "conductor", ""))


def test_decisions_are_cached_and_bounded():
    p = perms(listen="nova:compute/cmp1")
    target = (R, "nova", "compute", "cmp1")
    assert p.may_listen(target)
    p.listen._compiled.clear()  # a cached decision no longer needs the patterns
    assert p.may_listen(target)
    for i in range(acl._CACHE_MAX + 10):
        p.may_send(R, "e", "t%d" % i, "", False)
    assert len(p._cache) <= acl._CACHE_MAX


@pytest.mark.parametrize("bad", ["nova", "nova:", ":topic", "a:b:c", "nova:compute/a:b"])
def test_malformed_patterns_are_refused_by_name(bad):
    with pytest.raises(ValueError, match="malformed pattern '%s'" % bad):
        perms(listen="nova:ok " + bad)


def _key_file(directory, name, metadata_lines):
    public, _secret = security.write_key_pair(str(directory / "pairs"), name)
    text = open(public).read().replace("metadata\n", "metadata\n" + metadata_lines)
    (directory / (name + ".key")).write_text(text)
    return security.read_key_file(public)["public"].decode()


def test_key_files_with_metadata_and_bad_ones_skipped_alone(tmp_path):
    good = _key_file(tmp_path, "cmp1-nova", '    listen = "nova:compute/cmp1"\n    send = "*"\n')
    plain = _key_file(tmp_path, "api-nova", "")
    _key_file(tmp_path, "bad-pattern", '    listen = "nova"\n')
    _key_file(tmp_path, "bad-line", "    listen nova:compute\n")
    keys, errors = security.read_allowed_clients(str(tmp_path))
    assert set(keys) == {good, plain}
    assert keys[good].name == "cmp1-nova.key"
    assert keys[good].permissions == perms(listen="nova:compute/cmp1", send="*")
    assert keys[plain].permissions is None
    assert len(errors) == 2
    assert any("bad-pattern.key" in e and "malformed pattern 'nova'" in e for e in errors)
    assert any("bad-line.key line" in e and "malformed metadata entry" in e for e in errors)


def test_metadata_outside_its_section_is_ignored_and_values_may_be_bare(tmp_path):
    text = 'metadata\n    send = nova:conductor\ncurve\n    listen = "ignored"\n'
    assert security.read_metadata("x.key", text) == {"send": "nova:conductor"}
