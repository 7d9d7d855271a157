#!/usr/bin/python
# Copyright: contributors to the zeromq.openstack collection
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
module: image_checksum
short_description: Download an image's data and return its SHA-256
version_added: 0.1.0
description:
  - Streams the data of an image through the image API and returns the SHA-256 and the size of
    what came back, so a play can compare it with what it uploaded. Nothing is written to disk.
  - The openstack.cloud collection has no module that reads an image's content, hence this one.
  - Reading changes nothing, so the module always reports no change.
author:
  - zeromq.openstack maintainers (!UNKNOWN)
extends_documentation_fragment:
  - zeromq.openstack.cloud
options:
  image:
    description: Name or ID of the image.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Read back an uploaded image
  zeromq.openstack.image_checksum:
    cloud: lab
    image: smoke-image
  register: readback
"""

RETURN = r"""
sha256:
  description: SHA-256 (hex) of the downloaded data.
  returned: success
  type: str
bytes:
  description: Size of the downloaded data.
  returned: success
  type: int
"""

import hashlib  # noqa: E402
import traceback  # noqa: E402

from ansible.module_utils.basic import AnsibleModule, missing_required_lib  # noqa: E402

try:
    import openstack

    SDK_IMPORT_ERROR = None
except ImportError:
    SDK_IMPORT_ERROR = traceback.format_exc()

CHUNK = 1 << 20


def main():
    module = AnsibleModule(
        argument_spec={
            "cloud": {"type": "str", "required": True},
            "image": {"type": "str", "required": True},
        },
        supports_check_mode=True,
    )
    if SDK_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("openstacksdk"), exception=SDK_IMPORT_ERROR)
    name = module.params["image"]
    try:
        conn = openstack.connect(cloud=module.params["cloud"])
        image = conn.image.find_image(name, ignore_missing=False)
        digest, size = hashlib.sha256(), 0
        response = conn.image.download_image(image, stream=True)
        for chunk in response.iter_content(chunk_size=CHUNK):
            digest.update(chunk)
            size += len(chunk)
    except openstack.exceptions.SDKException as exc:
        module.fail_json(msg=f"image_checksum: image {name!r}: {exc}")
    module.exit_json(changed=False, sha256=digest.hexdigest(), bytes=size)


if __name__ == "__main__":
    main()
