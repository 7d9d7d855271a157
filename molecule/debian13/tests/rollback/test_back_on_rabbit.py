"""Stage rollback: playbooks/rollback.yml put every service back on RabbitMQ."""

from __future__ import annotations

import os
from urllib.parse import quote, unquote, urlsplit

import pytest
from conftest import (
    COMPUTES,
    CONTROLLER,
    CONTROLLER_TRANSPORTS,
    EVERY_TRANSPORT,
    NOTIFY_ONLY,
    PROXIES,
    assert_all_ok,
    cell_mappings,
    config,
    host,
    masked,
    routed,
    smoke_report,
    transport,
)


@pytest.fixture(scope="module")
def report() -> dict:
    return smoke_report("rollback")


def _rabbit_password(user: str) -> str:
    secrets = os.environ.get("ZMQOS_DEBIAN_CLOUD_SECRETS", "")
    assert secrets, "ZMQOS_DEBIAN_CLOUD_SECRETS is not set (run through molecule)"
    with open(os.path.join(secrets, "rabbitmq_" + user), encoding="utf-8") as handle:
        return handle.read().split()[0]


@pytest.mark.parametrize(("name", "path", "user"), EVERY_TRANSPORT)
def test_every_service_has_its_own_rabbitmq_user_back(name, path, user):
    node = host(name)
    sections = ["oslo_messaging_notifications"] + ([] if user in NOTIFY_ONLY else ["DEFAULT"])
    for section in sections:
        url = urlsplit(transport(node, path, section))
        assert (url.scheme, url.hostname, url.port, url.path) == (
            "rabbit",
            "debian-ctl",
            5672,
            "/openstack",
        ), (name, path, section)
        assert unquote(url.username) == user, (name, path, section)
        assert unquote(url.password) == _rabbit_password(user), (name, path, section)
    assert not config(node, path).has_section("oslo_messaging_zmq"), (name, path)


def test_the_passwords_are_ones_a_url_must_encode():
    # create.yml gives every RabbitMQ user such a password: the checks above and below then
    # prove the encoding (a password of letters and digits would pass unencoded).
    for user in sorted(set(CONTROLLER_TRANSPORTS.values())):
        assert set("@:%?#+$") <= set(_rabbit_password(user)), user


@pytest.mark.parametrize("name", (CONTROLLER, *COMPUTES))
def test_no_rabbitmq_password_in_the_journal_since_the_rollback_began(name):
    # Ansible modules log their arguments to the host's journal (no_log hides them).
    node = host(name)
    began = node.check_output("cat /var/tmp/zmqos-rollback-began")
    journal = node.check_output("journalctl --since @%s -o cat --no-pager", began)
    assert journal, name
    for user in sorted(set(CONTROLLER_TRANSPORTS.values())):
        password = _rabbit_password(user)
        for form in (password, quote(password, safe="")):
            assert form not in journal, (name, user)


def test_rabbitmq_runs_again():
    assert host(CONTROLLER).service("rabbitmq-server").is_running


def test_cell1_is_mapped_to_rabbitmq_with_novas_user():
    url = cell_mappings()["cell1"]
    password = quote(_rabbit_password("nova"), safe="")
    expected = f"rabbit://nova:{password}@debian-ctl:5672/openstack"
    assert url == expected, masked(url)


def test_smoke_all_ok_with_nothing_through_the_proxies(report):
    steps = assert_all_ok(report)
    assert sorted(report["proxies_read"]) == sorted(PROXIES)
    assert report["proxies_down"] == []
    assert sum(routed(step) for step in steps.values()) == 0, {
        n: s["targets"] for n, s in steps.items() if s["targets"]
    }


@pytest.mark.parametrize("name", PROXIES)
def test_the_services_gave_their_keys_back(name):
    """Back on RabbitMQ, no service key is left for the proxies to accept."""
    listing = host(name).check_output("ls /etc/zmq-proxy/allowed_clients")
    assert listing.split() == [], f"{name} still accepts {listing.split()}"
