# Copyright: contributors to the zeromq.openstack collection
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""ini_options and its line editor: edits land where oslo.config reads them, the rest stays."""

from __future__ import annotations

import configparser
import os
import stat

import pytest
from ansible_collections.zeromq.openstack.plugins.module_utils import ini_edit
from ansible_collections.zeromq.openstack.plugins.modules import ini_options

NOVA = """\
# nova.conf as a deployment wrote it
[DEFAULT]
debug = true
transport_url = rabbit://nova:secret@rabbit1:5672/nova
# a comment that stays

[database]
connection = mysql+pymysql://nova:pw@db/nova

[oslo_messaging_rabbit]
amqp_durable_queues = true
heartbeat_timeout_threshold = 60
"""


def _parsed(text: str) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=False)
    parser.read_string(text)
    return parser


def test_set_replaces_in_place_and_keeps_the_rest():
    text, done = ini_edit.apply(
        NOVA, [{"section": "DEFAULT", "option": "transport_url", "value": "zmq://p1:9501,p2:9501/"}]
    )
    assert done == ["set [DEFAULT] transport_url"]
    assert text == NOVA.replace("rabbit://nova:secret@rabbit1:5672/nova", "zmq://p1:9501,p2:9501/")


def test_set_appends_to_a_section_before_its_trailing_blank_lines():
    text, _done = ini_edit.apply(
        NOVA, [{"section": "DEFAULT", "option": "rpc_ping_enabled", "value": "true"}]
    )
    lines = text.splitlines()
    assert lines[lines.index("# a comment that stays") + 1] == "rpc_ping_enabled = true"
    assert _parsed(text).get("DEFAULT", "rpc_ping_enabled") == "true"


def test_set_creates_a_missing_section_at_the_end():
    text, done = ini_edit.apply(
        NOVA, [{"section": "oslo_messaging_zmq", "option": "security_mode", "value": "curve"}]
    )
    assert done == ["set [oslo_messaging_zmq] security_mode"]
    assert text.endswith(
        "heartbeat_timeout_threshold = 60\n\n[oslo_messaging_zmq]\nsecurity_mode = curve\n"
    )


def test_set_collapses_duplicates_and_their_continuation_lines():
    text = "[DEFAULT]\nx = 1\n  more of x\ny = 2\nx = 3\n"
    out, done = ini_edit.apply(text, [{"section": "DEFAULT", "option": "x", "value": "9"}])
    assert out == "[DEFAULT]\nx = 9\ny = 2\n"
    assert done == ["set [DEFAULT] x"]


def test_an_option_of_another_section_or_a_comment_is_not_touched():
    text = "[a]\n# x = 0\n[b]\nx = 1\n"
    out, _done = ini_edit.apply(text, [{"section": "a", "option": "x", "value": "2"}])
    assert out == "[a]\n# x = 0\nx = 2\n[b]\nx = 1\n"


def test_colon_separator_and_spacing_variants_are_the_same_option():
    out, done = ini_edit.apply("[s]\nx: 1\n", [{"section": "s", "option": "x", "value": "1"}])
    assert out == "[s]\nx = 1\n"
    assert done == ["set [s] x"]
    same, none = ini_edit.apply(out, [{"section": "s", "option": "x", "value": "1"}])
    assert (same, none) == (out, [])


def test_remove_option_and_whole_section():
    text, done = ini_edit.apply(
        NOVA,
        [
            {"section": "DEFAULT", "option": "transport_url", "state": "absent"},
            {"section": "oslo_messaging_rabbit", "state": "absent"},
            {"section": "nowhere", "state": "absent"},
        ],
    )
    assert done == ["removed [DEFAULT] transport_url", "removed [oslo_messaging_rabbit] (section)"]
    parsed = _parsed(text)
    assert not parsed.has_option("DEFAULT", "transport_url")
    assert not parsed.has_section("oslo_messaging_rabbit")
    assert parsed.get("database", "connection").startswith("mysql")


def test_options_before_any_header_are_not_a_section():
    out, _done = ini_edit.apply(
        "x = 1\n[DEFAULT]\n", [{"section": "DEFAULT", "option": "x", "value": "2"}]
    )
    assert out == "x = 1\n[DEFAULT]\nx = 2\n"


@pytest.mark.parametrize("name", ["", " x", "a]b", "a=b"])
def test_bad_names_are_refused(name):
    with pytest.raises(ini_edit.IniEditError, match="invalid"):
        ini_edit.apply("", [{"section": "s", "option": name, "value": "1"}])


def test_present_without_value_is_refused():
    with pytest.raises(ini_edit.IniEditError, match="needs option and value"):
        ini_edit.apply("", [{"section": "s", "option": "x", "value": None}])


# -- the module --------------------------------------------------------------------


def _conf(tmp_path, text=NOVA, mode=0o640):
    path = tmp_path / "nova.conf"
    path.write_text(text)
    os.chmod(path, mode)
    return str(path)


EDITS = [
    {"section": "DEFAULT", "option": "transport_url", "value": "zmq://p1:9501/"},
    {"section": "oslo_messaging_zmq", "option": "security_mode", "value": "curve"},
]


def test_module_changes_once_then_not_and_keeps_the_mode(tmp_path, run_module):
    path = _conf(tmp_path)
    first = run_module(ini_options, {"path": [path], "edits": EDITS}, diff=True)
    assert first["changed"] is True
    assert first["changes"] == {
        path: ["set [DEFAULT] transport_url", "set [oslo_messaging_zmq] security_mode"]
    }
    assert "rabbit://" in first["diff"][0]["before"] and "zmq://p1" in first["diff"][0]["after"]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    assert _parsed(open(path).read()).get("oslo_messaging_zmq", "security_mode") == "curve"
    second = run_module(ini_options, {"path": [path], "edits": EDITS})
    assert second["changed"] is False and second["changes"] == {}


def test_module_check_mode_predicts_without_writing(tmp_path, run_module):
    path = _conf(tmp_path)
    result = run_module(ini_options, {"path": [path], "edits": EDITS}, check_mode=True)
    assert result["changed"] is True
    assert open(path).read() == NOVA


def test_module_fails_on_a_missing_file_and_names_it(tmp_path, run_module):
    missing = str(tmp_path / "absent.conf")
    result = run_module(ini_options, {"path": [missing], "edits": EDITS})
    assert result["failed"] and missing in result["msg"]
    assert not os.path.exists(missing)


def test_module_fails_on_a_bad_edit_and_writes_nothing(tmp_path, run_module):
    path = _conf(tmp_path)
    result = run_module(
        ini_options, {"path": [path], "edits": [{"section": "DEFAULT", "option": "x"}]}
    )
    assert result["failed"] and "needs option and value" in result["msg"]
    assert open(path).read() == NOVA


def test_module_masks_secret_values_in_its_result(tmp_path, run_module):
    path = _conf(tmp_path)
    url = "rabbit://nova:s3cr%40t@rabbit1:5672/nova"
    edits = [{"section": "DEFAULT", "option": "transport_url", "value": url, "secret": True}]
    result = run_module(ini_options, {"path": [path], "edits": edits}, diff=True)
    assert result["changed"] is True
    assert url not in repr(result)
    assert url in open(path).read()
