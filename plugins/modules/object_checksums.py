#!/usr/bin/python
# Copyright: contributors to the zeromq.openstack collection
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
module: object_checksums
short_description: Read objects back from an object-store container and return their checksums
version_added: 0.1.0
description:
  - Downloads objects of a container through the object-store API and returns the SHA-256 and the
    size of each, so a play can compare what it reads with what it wrote. The content itself is
    neither returned nor written to disk.
  - The openstack.cloud collection has no module that reads an object's content, hence this one.
  - Reading changes nothing, so the module always reports no change.
author:
  - zeromq.openstack maintainers (!UNKNOWN)
extends_documentation_fragment:
  - zeromq.openstack.cloud
options:
  container:
    description: Name of the container.
    type: str
    required: true
  objects:
    description: Names of the objects to read. Omitted, every object of the container is read.
    type: list
    elements: str
"""

EXAMPLES = r"""
- name: Read back what was uploaded
  zeromq.openstack.object_checksums:
    cloud: lab
    container: smoke
  register: readback
"""

RETURN = r"""
objects:
  description: Per object name, its C(sha256) (hex) and C(bytes).
  returned: success
  type: dict
  sample: {"obj-1": {"sha256": "9f86d0...", "bytes": 65536}}
"""

import hashlib  # noqa: E402
import traceback  # noqa: E402

from ansible.module_utils.basic import AnsibleModule, missing_required_lib  # noqa: E402

try:
    import openstack

    SDK_IMPORT_ERROR = None
except ImportError:
    SDK_IMPORT_ERROR = traceback.format_exc()


def main():
    module = AnsibleModule(
        argument_spec={
            "cloud": {"type": "str", "required": True},
            "container": {"type": "str", "required": True},
            "objects": {"type": "list", "elements": "str"},
        },
        supports_check_mode=True,
    )
    if SDK_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("openstacksdk"), exception=SDK_IMPORT_ERROR)

    params = module.params
    try:
        conn = openstack.connect(cloud=params["cloud"])
        names = params["objects"]
        if names is None:
            names = [obj.name for obj in conn.object_store.objects(params["container"])]
        result = {}
        for name in names:
            data = conn.object_store.download_object(name, container=params["container"])
            result[name] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    except openstack.exceptions.NotFoundException as exc:
        module.fail_json(msg=f"object_checksums: not found in {params['container']!r}: {exc}")
    except openstack.exceptions.SDKException as exc:
        module.fail_json(msg=f"object_checksums: {exc}")
    module.exit_json(changed=False, objects=result)


if __name__ == "__main__":
    main()
