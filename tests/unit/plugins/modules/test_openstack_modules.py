# Copyright: contributors to the zeromq.openstack collection
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""compute_server and object_checksums before they reach a cloud: arguments and the SDK check.

Against a real cloud both run in the Molecule aio scenario (the smoke play boots, deletes and
reads back through them); these cover the branches no cloud reaches.
"""

from __future__ import annotations

import importlib.util

import pytest
from ansible_collections.zeromq.openstack.plugins.modules import compute_server, object_checksums

HAS_SDK = importlib.util.find_spec("openstack") is not None


@pytest.mark.skipif(HAS_SDK, reason="this Python has openstacksdk; the branch needs it absent")
@pytest.mark.parametrize(
    ("module", "args"),
    [
        (compute_server, {"cloud": "lab", "name": "s", "state": "absent"}),
        (object_checksums, {"cloud": "lab", "container": "c"}),
    ],
)
def test_missing_sdk_is_named(run_module, module, args):
    result = run_module(module, args)
    assert result["failed"]
    assert "openstacksdk" in result["msg"]


def test_boot_needs_image_and_flavor(run_module):
    result = run_module(compute_server, {"cloud": "lab", "name": "s", "image": "cirros"})
    assert result["failed"]
    assert "flavor" in result["msg"]


@pytest.mark.parametrize("state", ["running", ""])
def test_state_must_be_present_or_absent(run_module, state):
    result = run_module(compute_server, {"cloud": "lab", "name": "s", "state": state})
    assert result["failed"]
    assert "state" in result["msg"]


def test_object_checksums_needs_a_container(run_module):
    result = run_module(object_checksums, {"cloud": "lab"})
    assert result["failed"]
    assert "container" in result["msg"]


class _CloudWithoutSwift:
    """A connection whose object_store proxy raises on access, as openstacksdk's does when
    the catalog has no object-store (the Debian-packaged cloud of the debian13 scenario)."""

    def __getattr__(self, name):
        if name == "object_store":
            raise LookupError("public endpoint for object-store service not found")
        return self

    def __call__(self, *args, **kwargs):
        return []


def test_leftover_kinds_reach_no_proxy_before_they_are_called():
    from ansible_collections.zeromq.openstack.plugins.modules import cloud_leftovers

    kinds = cloud_leftovers._kinds(_CloudWithoutSwift(), timeout=1)
    containers = next(k for k in kinds if k[0] == "containers")
    with pytest.raises(LookupError):
        containers[2]()
    images = next(k for k in kinds if k[0] == "images")
    assert images[2]() == []
    assert images[3]("an image") == []
