# Copyright: contributors to the zeromq.openstack collection
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Filters of the oslo_messaging_zmq role (plugins/filter/oslo_messaging_zmq.py).

The URLs are also parsed back with oslo.messaging's own TransportURL (the driver's test
dependency), so what the role renders is what the services will read.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote, urlparse

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.zeromq.openstack.plugins.filter import oslo_messaging_zmq as f

TRAITS = {
    "nova": {"rpc": True, "notifications": True, "ping_exchange": "nova"},
    "glance": {"rpc": False, "notifications": True},
    "placement": {"rpc": False, "notifications": False},
}
DEFAULT_TRAITS = {"rpc": True, "notifications": True}
NOVA = {"config_files": ["/etc/nova/nova.conf"], "python": "/usr/bin/python3"}
RABBIT = {
    "hosts": ["rmq1", "rmq2"],
    "port": 5672,
    "userid": "openstack",
    "password": "g",
    "vhost": "/",
}
SPECIAL = "p@ss/w:rd%41$x"
# What a RabbitMQ password may hold for oslo.messaging's rabbit driver: everything but "/".
USABLE = "p@ss?w:rd%41$x#+"


def parse(url: str):
    oslo_messaging = pytest.importorskip("oslo_messaging")
    from oslo_config import cfg

    return oslo_messaging.TransportURL.parse(cfg.ConfigOpts(), url)


# --- URLs ----------------------------------------------------------------------------------


def test_zmq_url_lists_the_proxies_in_order():
    assert f.zmq_transport_url(["p1", "p2"], "9501") == "zmq://zmq@p1:9501,zmq@p2:9501/"
    assert f.zmq_transport_url(["p1"], 9501) == "zmq://p1:9501/"


def test_zmq_url_with_several_proxies_has_a_port_for_urlparse():
    # nova formats cell mappings with urlparse(its own transport_url).port
    url = f.zmq_transport_url(["p1", "fd00::2"], 9502)
    assert urlparse(url).port == 9502
    with pytest.raises(ValueError):
        assert urlparse("zmq://p1:9501,p2:9501/").port is None


def test_zmq_url_brackets_ipv6():
    url = f.zmq_transport_url(["fd00::11", "192.0.2.12", "[fd00::13]"], 9501)
    assert url == "zmq://zmq@[fd00::11]:9501,zmq@192.0.2.12:9501,zmq@[fd00::13]:9501/"
    hosts = parse(url).hosts
    assert [(h.hostname, h.port) for h in hosts] == [
        ("fd00::11", 9501),
        ("192.0.2.12", 9501),
        ("fd00::13", 9501),
    ]


@pytest.mark.parametrize(("hosts", "port"), [([], 9501), ("p1", 9501), (["p1"], "x"), (["p1"], 0)])
def test_zmq_url_rejects_bad_input(hosts, port):
    with pytest.raises(AnsibleFilterError):
        f.zmq_transport_url(hosts, port)


@pytest.mark.parametrize("password", [SPECIAL, "plain", "a b", "%", "@@", "ü"])
def test_rabbit_url_encodes_the_password_so_oslo_messaging_reads_it_back(password):
    url = f.rabbit_transport_url(["rmq1", "fd00::1"], 5672, "nova@svc", password, "/")
    hosts = parse(url).hosts
    assert [(h.hostname, h.port, h.username, h.password) for h in hosts] == [
        ("rmq1", 5672, "nova@svc", password),
        ("fd00::1", 5672, "nova@svc", password),
    ]
    assert "$" not in url, "oslo.config would substitute a '$' in the config file"


@pytest.mark.parametrize(
    ("vhost", "path", "parsed"),
    [
        ("/", "/", None),
        ("", "/", None),
        (None, "/", None),
        ("nova", "/nova", "nova"),
        ("/nova", "/%2Fnova", "/nova"),
    ],
)
def test_rabbit_url_names_the_vhost_exactly(vhost, path, parsed):
    url = f.rabbit_transport_url(["h"], 5672, "u", "p", vhost)
    assert url == "rabbit://u:p@h:5672" + path
    assert (parse(url).virtual_host or None) == parsed


def test_rabbit_url_needs_a_user():
    with pytest.raises(AnsibleFilterError, match="user"):
        f.rabbit_transport_url(["h"], 5672, "", "p")


def test_addresses_take_the_first_defined_key():
    hostvars = {
        "p1": {"zmq_proxy_advertise_address": "10.0.0.1", "ansible_host": "192.0.2.1"},
        "p2": {"ansible_host": "192.0.2.2", "zmq_proxy_advertise_address": ""},
        "p3": {},
    }
    keys = ["zmq_proxy_advertise_address", "ansible_host"]
    assert f.oslo_messaging_zmq_addresses(["p1", "p2", "p3"], hostvars, keys) == [
        "10.0.0.1",
        "192.0.2.2",
        "p3",
    ]


# --- entries and per-service URLs ------------------------------------------------------------


def entries(services, rpc="zmq", notify="zmq"):
    return f.oslo_messaging_zmq_entries(services, TRAITS, DEFAULT_TRAITS, rpc, notify)


def test_entries_layer_traits_under_the_entry_and_drop_secrets():
    services = {
        "nova": dict(NOVA, rabbit_password=SPECIAL, group="nova", cells=True),
        "glance": dict(NOVA, notify_transport="rabbit"),
        "placement": dict(NOVA),
        "mysvc": dict(NOVA, python="/opt/mysvc/bin/python"),
    }
    out = entries(services)
    assert "rabbit_password" not in out["nova"]
    assert SPECIAL not in repr(out)
    assert out["nova"]["ping_exchange"] == "nova"
    assert out["nova"]["user"] == "nova"
    assert out["nova"]["cells"] is True
    assert out["nova"]["nova_manage"] == "/usr/bin/nova-manage"
    assert out["mysvc"]["nova_manage"] == "/opt/mysvc/bin/nova-manage"
    assert (out["nova"]["uses_zmq"], out["nova"]["uses_rabbit"]) == (True, False)
    assert (out["glance"]["uses_zmq"], out["glance"]["uses_rabbit"]) == (False, True)
    assert out["placement"]["active"] is False
    assert out["mysvc"]["rpc"] is True and out["mysvc"]["user"] == "root"


def test_urls_use_per_service_credentials_and_fall_back_to_the_global_ones():
    services = {
        "nova": dict(NOVA, rabbit_userid="nova", rabbit_password=SPECIAL, rabbit_vhost="nova"),
        "cinder": dict(NOVA, rabbit_userid="cinder"),
        "heat": dict(NOVA, rpc_transport="zmq", rabbit_password=""),
        "glance": dict(NOVA),
    }
    merged = entries(services, rpc="rabbit", notify="rabbit")
    merged["heat"]["rpc_transport"] = "zmq"
    urls = f.oslo_messaging_zmq_urls(merged, services, "zmq://p1:9501/", RABBIT)
    nova = parse(urls["nova"]["rpc"])
    assert [(h.username, h.password) for h in nova.hosts] == [("nova", SPECIAL)] * 2
    assert nova.virtual_host == "nova"
    assert urls["nova"]["notify"] == urls["nova"]["rpc"]
    cinder = parse(urls["cinder"]["rpc"])
    assert [(h.username, h.password) for h in cinder.hosts] == [("cinder", "g")] * 2
    assert urls["heat"]["rpc"] == "zmq://p1:9501/"
    assert parse(urls["heat"]["notify"]).hosts[0].password == "g"
    assert urls["glance"]["rpc"] is None
    assert parse(urls["glance"]["notify"]).hosts[0].username == "openstack"


def test_urls_need_no_rabbit_hosts_when_nothing_uses_rabbit():
    merged = entries({"nova": NOVA})
    urls = f.oslo_messaging_zmq_urls(merged, {"nova": NOVA}, "zmq://p:1/", dict(RABBIT, hosts=[]))
    assert urls == {"nova": {"rpc": "zmq://p:1/", "notify": "zmq://p:1/"}}


# --- the plan (vars/main.yml's one call) and its URLs ----------------------------------------


def plan(services, rpc="zmq", notify="zmq", mode="curve", proxies=("p1",), port=9501):
    return f.oslo_messaging_zmq_plan(
        services,
        traits=TRAITS,
        default_traits=DEFAULT_TRAITS,
        rpc_transport=rpc,
        notify_transport=notify,
        security_mode=mode,
        proxy_addresses=list(proxies),
        proxy_port=port,
    )


def plan_urls(the_plan, services, password="g", addresses=("rmq1", "rmq2")):
    return f.oslo_messaging_zmq_plan_urls(
        the_plan,
        services,
        rabbit_addresses=list(addresses),
        rabbit_port=5672,
        rabbit_userid="openstack",
        rabbit_password=password,
        rabbit_vhost="/",
    )


def names(entries):
    return [e["name"] for e in entries]


SPLIT = {
    "nova": dict(NOVA, rabbit_password=SPECIAL),
    "glance": dict(NOVA, python="/opt/glance/bin/python", notify_transport="rabbit"),
    "cinder": dict(NOVA, rpc_transport="rabbit"),
    "placement": dict(NOVA, python="/opt/placement/bin/python"),
    "heat": dict(NOVA, python="/opt/heat/bin/python"),
}


def test_plan_has_the_keys_the_tasks_read():
    out = plan({"nova": NOVA})
    assert set(out) == {"entries", "active", "on_zmq", "on_rabbit", "curve", "zmq_url", "pythons"}
    assert out["entries"] == entries({"nova": NOVA})
    assert out["active"] == [out["entries"]["nova"]]


def test_plan_splits_services_between_zmq_and_rabbit_in_the_services_order():
    out = plan(SPLIT)
    assert names(out["active"]) == ["nova", "glance", "cinder", "heat"]
    # cinder: RPC on rabbit, notifications on zmq; glance: notifications only, on rabbit
    assert names(out["on_zmq"]) == ["nova", "cinder", "heat"]
    assert names(out["on_rabbit"]) == ["glance", "cinder"]


def test_plan_leaves_placement_inactive():
    out = plan(SPLIT)
    assert out["entries"]["placement"]["active"] is False
    assert "placement" not in names(out["active"])
    assert "/opt/placement/bin/python" not in out["pythons"]
    alone = plan({"placement": NOVA})
    assert (alone["active"], alone["on_zmq"], alone["on_rabbit"]) == ([], [], [])
    assert (alone["curve"], alone["pythons"]) == (False, [])


def test_plan_lists_each_python_once_in_first_seen_order():
    assert plan(SPLIT)["pythons"] == [
        "/usr/bin/python3",
        "/opt/glance/bin/python",
        "/opt/heat/bin/python",
    ]
    assert plan({})["pythons"] == []


def test_plan_without_proxies_has_an_empty_zmq_url():
    assert plan({"nova": NOVA}, proxies=())["zmq_url"] == ""
    assert plan({"nova": NOVA}, proxies=(), port="not a port")["zmq_url"] == ""
    # and the rollback path builds its URLs without one
    out = plan({"nova": NOVA}, rpc="rabbit", notify="rabbit", proxies=())
    assert parse(plan_urls(out, {"nova": NOVA})["nova"]["rpc"]).transport == "rabbit"


def test_plan_zmq_url_lists_the_proxy_addresses_with_ipv6_bracketed():
    out = plan({"nova": NOVA}, proxies=("fd00::11", "192.0.2.12"), port="9501")
    assert out["zmq_url"] == "zmq://zmq@[fd00::11]:9501,zmq@192.0.2.12:9501/"
    assert plan({}, proxies=("fd00::11",))["zmq_url"] == "zmq://[fd00::11]:9501/"


@pytest.mark.parametrize(
    ("services", "rpc", "notify", "mode", "curve"),
    [
        ({"nova": NOVA}, "zmq", "zmq", "curve", True),
        ({"nova": NOVA}, "rabbit", "zmq", "curve", True),
        ({"nova": NOVA}, "zmq", "zmq", "plain", False),
        ({"nova": NOVA}, "rabbit", "rabbit", "curve", False),
        ({"placement": NOVA}, "zmq", "zmq", "curve", False),
        ({}, "zmq", "zmq", "curve", False),
    ],
)
def test_plan_needs_curve_only_for_services_on_zmq(services, rpc, notify, mode, curve):
    assert plan(services, rpc=rpc, notify=notify, mode=mode)["curve"] is curve


def test_plan_holds_no_secret():
    out = plan(SPLIT, rpc="rabbit")
    assert SPECIAL not in repr(out)
    assert all("rabbit_password" not in e for e in out["entries"].values())


def test_plan_urls_percent_encode_the_rabbit_password():
    out = plan(SPLIT, proxies=("fd00::11",))
    urls = plan_urls(out, SPLIT, password=USABLE, addresses=("fd00::21", "rmq2"))
    glance = urls["glance"]["notify"]
    assert USABLE not in glance
    assert glance.startswith("rabbit://openstack:" + quote(USABLE, safe="") + "@[fd00::21]:5672,")
    hosts = parse(glance).hosts
    assert [(h.hostname, h.password) for h in hosts] == [("fd00::21", USABLE), ("rmq2", USABLE)]
    assert urls["glance"]["rpc"] is None
    # cinder's RPC on RabbitMQ, its notifications and nova's everything on the proxies
    assert parse(urls["cinder"]["rpc"]).hosts[0].password == USABLE
    assert urls["cinder"]["notify"] == urls["nova"]["rpc"] == "zmq://[fd00::11]:9501/"
    assert urls["placement"] == {"rpc": None, "notify": None}


def test_plan_urls_are_oslo_messaging_zmq_urls():
    out = plan(SPLIT)
    assert plan_urls(out, SPLIT) == f.oslo_messaging_zmq_urls(
        out["entries"], SPLIT, out["zmq_url"], dict(RABBIT, password="g")
    )


def test_plan_urls_need_no_rabbit_hosts_when_nothing_uses_rabbit():
    out = plan({"nova": NOVA})
    assert plan_urls(out, {"nova": NOVA}, addresses=()) == {
        "nova": {"rpc": "zmq://p1:9501/", "notify": "zmq://p1:9501/"}
    }


def test_plan_and_plan_urls_are_registered_filters():
    filters = f.FilterModule().filters()
    assert filters["oslo_messaging_zmq_plan"] is f.oslo_messaging_zmq_plan
    assert filters["oslo_messaging_zmq_plan_urls"] is f.oslo_messaging_zmq_plan_urls


# --- entry problems --------------------------------------------------------------------------


def problems(services, rpc="zmq", notify="zmq", password=""):
    return f.oslo_messaging_zmq_entry_problems(
        services, TRAITS, DEFAULT_TRAITS, rpc, notify, password
    )


def test_good_entries_have_no_problems():
    assert problems({"nova": NOVA, "glance": NOVA}) == []
    assert problems({"nova": dict(NOVA, rabbit_password=USABLE)}, rpc="rabbit") == []
    assert problems({"nova": NOVA}, rpc="rabbit", password="g") == []


@pytest.mark.parametrize(
    ("entry", "named"),
    [
        ({"python": "/usr/bin/python3"}, "oslo_messaging_zmq_services.nova needs config_files"),
        (dict(NOVA, config_files=["nova.conf"]), "needs config_files"),
        (dict(NOVA, python="python3"), "needs python"),
        (dict(NOVA, units="nova-api"), "nova.units must be a list"),
        (dict(NOVA, rpc_transport="kafka"), "nova.rpc_transport is 'kafka'"),
        (dict(NOVA, cells="yes"), "nova.cells must be true or false"),
        (dict(NOVA, rabit_userid="nova"), "unknown key(s) rabit_userid"),
        ("nova.conf", "nova must be a dictionary"),
    ],
)
def test_bad_entries_are_named(entry, named):
    found = problems({"nova": entry})
    assert any(named in p for p in found), found


def test_rabbit_without_any_password_names_both_variables_and_no_secret():
    found = problems({"nova": dict(NOVA, rabbit_userid="nova")}, rpc="rabbit")
    assert len(found) == 1
    assert "oslo_messaging_zmq_services.nova.rabbit_password" in found[0]
    assert "oslo_messaging_zmq_rabbit_password" in found[0]


@pytest.mark.parametrize("own", [True, False])
def test_rabbit_password_with_a_slash_is_named_without_the_secret(own):
    entry = dict(NOVA, rabbit_password=SPECIAL) if own else NOVA
    found = problems({"nova": entry}, rpc="rabbit", password="" if own else SPECIAL)
    assert len(found) == 1, found
    source = "services.nova.rabbit_password" if own else "oslo_messaging_zmq_rabbit_password"
    assert source in found[0] and "'/'" in found[0]
    assert SPECIAL not in found[0]


@pytest.mark.parametrize("password", [SPECIAL, USABLE])
def test_kombu_parses_what_the_rabbit_driver_makes_of_a_password_unless_it_has_a_slash(password):
    # Why the check above exists: impl_rabbit builds kombu's URL with parse.quote(password),
    # which leaves "/" as is (oslo.messaging 16.1 to 18.x); kombu then reads it as the path.
    from kombu.utils.url import parse_url

    url = f"amqp://nova:{quote(password)}@debian-ctl:5672/openstack"
    if "/" in password:
        with pytest.raises(ValueError):
            parse_url(url)
    else:
        assert parse_url(url)["password"] == password


def test_placement_needs_no_rabbit_password():
    assert problems({"placement": NOVA}, rpc="rabbit") == []


def test_cells_only_for_nova():
    assert any(
        "cells applies to nova only" in p for p in problems({"cinder": dict(NOVA, cells=True)})
    )


# --- tiers and floors ------------------------------------------------------------------------

TIERS = [
    ["control", "openstack_controllers"],
    ["network", "openstack_network_nodes"],
    ["storage", "openstack_storage_nodes"],
    ["compute", "openstack_computes"],
]


@pytest.mark.parametrize(
    ("groups", "tier"),
    [
        (["openstack_controllers", "openstack_computes"], "control"),
        (["openstack_computes", "openstack_network_nodes"], "network"),
        (["openstack_storage_nodes"], "storage"),
        (["openstack_computes"], "compute"),
        (["ungrouped"], "compute"),
    ],
)
def test_tier_is_the_first_matching_group(groups, tier):
    assert f.oslo_messaging_zmq_tier(groups, TIERS) == tier


def test_floors_come_from_the_drivers_pyproject():
    pyproject = (Path(__file__).resolve().parents[4] / "driver" / "pyproject.toml").read_text()
    floors = f.oslo_messaging_zmq_floors(pyproject, ["oslo.messaging", "pyzmq"])
    assert set(floors) == {"python", "oslo.messaging", "pyzmq"}
    # Debian 13's versions, the oldest the driver is tested with (tox env functional-om16)
    assert floors == {"python": "3.11", "oslo.messaging": "16.1", "pyzmq": "26.4"}


def test_floors_ignore_other_operators_and_markers():
    text = (
        '[project]\nrequires-python = ">=3.11,<4"\n'
        'dependencies = ["oslo_messaging >=16.1, !=17.0 ; python_version>\'3\'", "pyzmq<30"]\n'
    )
    assert f.oslo_messaging_zmq_floors(text, ["oslo.messaging", "pyzmq"]) == {
        "python": "3.11",
        "oslo.messaging": "16.1",
    }


def test_floors_reject_what_is_not_a_pyproject():
    with pytest.raises(AnsibleFilterError):
        f.oslo_messaging_zmq_floors("not toml [", ["pyzmq"])
