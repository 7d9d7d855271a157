# Copyright: contributors to the zeromq.openstack collection
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""tempest.conf from discovered facts: what is switched off, why, and that overrides win.

The discovery itself (tempest_config) runs against the lab cloud in the Molecule aio scenario,
where tempest reads the file this builds.
"""

from __future__ import annotations

import configparser

from ansible_collections.zeromq.openstack.plugins.module_utils import tempest_conf

LAB = {
    "auth": {
        "auth_url": "http://127.0.0.1:5000/v3",
        "username": "admin",
        "password": "s3cret",
        "project_name": "admin",
        "user_domain_name": "Default",
        "region": "RegionOne",
    },
    "service_types": ["compute", "identity", "image", "network", "object-store", "block-storage"],
    "image_ref": "i1",
    "image_ref_alt": "i2",
    "flavor_ref": "f1",
    "flavor_ref_alt": "f2",
    "compute": {"max_microversion": "2.96", "compute_nodes": 1, "hypervisor_types": ["fake"]},
    "network": {
        "extensions": ["port-security", "security-group", "binding"],
        "shared_networks": ["lab-net"],
        "external_network_id": None,
    },
    "volume": {"max_microversion": "3.70", "backend_names": ["fake"], "backup": False},
    "object_store_info": {"swift": {}, "slo": {}, "tempurl": {}},
}


def parse(opts: tempest_conf.Options) -> configparser.ConfigParser:
    parser = configparser.ConfigParser()
    parser.read_string(opts.render("header\nsecond line"))
    return parser


def test_renders_an_ini_file_tempest_can_read():
    conf = parse(tempest_conf.build(LAB, log_file="/w/tempest.log"))
    assert conf["DEFAULT"]["log_file"] == "/w/tempest.log"
    assert conf["identity"]["uri_v3"] == "http://127.0.0.1:5000/v3"
    assert conf["auth"]["admin_password"] == "s3cret"
    assert conf["compute"]["image_ref"] == "i1"
    assert conf["compute"]["flavor_ref_alt"] == "f2"
    assert conf["compute"]["max_microversion"] == "2.96"
    assert conf["volume"]["max_microversion"] == "3.70"


def test_every_switched_off_feature_has_its_reason_above_it():
    opts = tempest_conf.build(LAB)
    text = opts.render("h")
    for section, options in opts.sections.items():
        for option, (value, reason) in options.items():
            if value == "false":
                assert reason, f"{section}.{option} is off without a reason"
                assert f"# {reason}\n{option} = false" in text


def test_fake_hypervisor_switches_off_console_and_validation():
    conf = parse(tempest_conf.build(LAB))
    assert conf["compute-feature-enabled"]["console_output"] == "false"
    assert conf["validation"]["run_validation"] == "false"


def test_a_real_hypervisor_keeps_console_and_validation():
    facts = dict(LAB, compute={"compute_nodes": 3, "hypervisor_types": ["QEMU"]})
    conf = parse(tempest_conf.build(facts))
    # Nothing narrowed: no console, migration or resize flag, no validation section.
    assert "compute-feature-enabled" not in conf
    assert "validation" not in conf
    assert conf["compute"]["min_compute_nodes"] == "3"


def test_services_follow_the_catalog():
    conf = parse(tempest_conf.build(LAB))["service_available"]
    assert [s for s in tempest_conf.TEMPEST_SERVICES if conf[s] == "true"] == [
        "nova",
        "glance",
        "neutron",
        "swift",
        "cinder",
    ]
    assert conf["heat"] == "false"


def test_network_extensions_and_isolated_networks():
    conf = parse(tempest_conf.build(LAB))
    assert (
        conf["network-feature-enabled"]["api_extensions"]
        == "binding, port-security, security-group"
    )
    assert conf["network-feature-enabled"]["port_security"] == "true"
    # No router extension: tempest cannot give its projects routed networks.
    assert conf["auth"]["create_isolated_networks"] == "false"
    assert conf["compute"]["fixed_network_name"] == "lab-net"
    assert "public_network_id" not in conf["network"]


def test_with_routers_and_an_external_network():
    network = dict(LAB["network"], extensions=["router", "external-net"], external_network_id="x")
    conf = parse(tempest_conf.build(dict(LAB, network=network)))
    assert "create_isolated_networks" not in conf["auth"]
    assert conf["network"]["public_network_id"] == "x"


def test_swift_middleware_from_info():
    conf = parse(tempest_conf.build(LAB))
    assert conf["object-storage-feature-enabled"]["discoverable_apis"] == "slo, tempurl"


def test_overrides_win_and_say_so():
    opts = tempest_conf.build(LAB, {"compute-feature-enabled": {"console_output": True}})
    assert opts.sections["compute-feature-enabled"]["console_output"] == (
        "true",
        "set by tempest_conf_overrides",
    )
