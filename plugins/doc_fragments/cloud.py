# Copyright: contributors to the zeromq.openstack collection
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  cloud:
    description:
      - Name of the cloud in C(clouds.yaml), searched where openstacksdk searches
        (E(OS_CLIENT_CONFIG_FILE), the current directory, C(~/.config/openstack),
        C(/etc/openstack)).
    type: str
    required: true
requirements:
  - openstacksdk (on the host that runs the module)
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying
      target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in
      check_mode), when in diff mode.
    support: none
"""
