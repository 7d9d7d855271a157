"""The debian13 cloud's RabbitMQ users come from one definitions file (debian_infra's filter)."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
from pathlib import Path

import pytest

TOP = Path(__file__).resolve().parents[3]
_PATH = TOP / "tests/debian_cloud/roles/debian_infra/filter_plugins/rabbitmq_definitions.py"
_SPEC = importlib.util.spec_from_file_location("rabbitmq_definitions", _PATH)
defs = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(defs)


def test_hash_is_rabbitmqs_documented_example():
    """RabbitMQ's passwords guide: salt 908DC60A and password test12."""
    got = defs.password_hash("test12", bytes.fromhex("908DC60A"))
    assert got == "kI3GCqW5JLMJa4iX1lo7X4D6XbYqlLgxIs30+P6tENUV2POR"


def test_same_passwords_give_the_same_file():
    users = [{"name": "nova", "password": "pw1"}, {"name": "cinder", "password": "pw1"}]
    first = defs.rabbitmq_definitions(users, "openstack")
    assert first == defs.rabbitmq_definitions(users, "openstack")
    nova, cinder = first["users"]
    assert nova["password_hash"] != cinder["password_hash"], "a salt per user"


def test_hash_checks_out_with_its_own_salt():
    (user,) = defs.rabbitmq_definitions([{"name": "nova", "password": "s3cr3t"}], "v")["users"]
    raw = base64.b64decode(user["password_hash"])
    salt, digest = raw[:4], raw[4:]
    assert digest == hashlib.sha256(salt + b"s3cr3t").digest()
    assert user["hashing_algorithm"] == "rabbit_password_hashing_sha256"


def test_every_user_gets_full_rights_on_the_vhost():
    out = defs.rabbitmq_definitions(
        [{"name": "nova", "password": "a"}, {"name": "neutron", "password": "b"}], "openstack"
    )
    assert out["vhosts"] == [{"name": "openstack"}]
    assert out["permissions"] == [
        {"user": u, "vhost": "openstack", "configure": ".*", "write": ".*", "read": ".*"}
        for u in ("nova", "neutron")
    ]


@pytest.mark.parametrize(
    ("users", "vhost", "message"),
    [
        ([{"name": "nova", "password": ""}], "openstack", "'nova' needs a name and a password"),
        ([{"password": "x"}], "openstack", "None needs a name and a password"),
        ([], "", "virtual host name is empty"),
    ],
)
def test_bad_input_names_what_is_missing(users, vhost, message):
    with pytest.raises(ValueError, match=message):
        defs.rabbitmq_definitions(users, vhost)
