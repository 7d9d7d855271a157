#!/usr/bin/python
# Copyright: contributors to the zeromq.openstack collection
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
module: ini_options
short_description: Set or remove many options of existing INI files in one call
version_added: 0.1.0
description:
  - Applies a list of edits (set an option, remove an option, remove a section) to each of the
    given INI files, in order, keeping comments, blank lines and every other option as they are.
  - One call for all of a service's messaging options instead of one module run per option and
    file (M(community.general.ini_file) in a loop), which is what made a converged run slow.
  - Options are written as C(option = value), as M(community.general.ini_file) writes them, so
    files that module wrote read back unchanged. Repeated occurrences of a set option in its
    section are collapsed into one.
  - The files belong to the service's deployment; a missing file is an error, never created. A
    changed file keeps its owner, group and mode.
author:
  - zeromq.openstack maintainers (!UNKNOWN)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  platform:
    platforms: posix
  check_mode:
    support: full
  diff_mode:
    support: full
options:
  path:
    description: The INI files to edit; every edit applies to each of them.
    type: list
    elements: path
    required: true
  edits:
    description: The edits, applied in this order.
    type: list
    elements: dict
    required: true
    suboptions:
      section:
        description: Section name, V(DEFAULT) for the defaults section.
        type: str
        required: true
      option:
        description: Option name. Omitted with O(edits[].state=absent), the whole section goes.
        type: str
      value:
        description: Value to set (required with O(edits[].state=present)).
        type: str
      state:
        description: Whether the option is set or removed.
        type: str
        choices: [present, absent]
        default: present
      secret:
        description:
          - The value is a secret (a URL with a password). It is masked in the result and diff.
        type: bool
        default: false
"""

EXAMPLES = r"""
- name: Put nova on the ZeroMQ transport
  zeromq.openstack.ini_options:
    path: [/etc/nova/nova.conf]
    edits:
      - {section: DEFAULT, option: transport_url, value: "zmq://proxy1:9501,proxy2:9501/"}
      - {section: oslo_messaging_zmq, option: security_mode, value: curve}
      - {section: oslo_messaging_rabbit, state: absent}
"""

RETURN = r"""
changes:
  description: What changed, per file (C(set [section] option) or C(removed [section] option)).
  returned: always
  type: dict
  sample: {"/etc/nova/nova.conf": ["set [DEFAULT] transport_url"]}
"""

import os  # noqa: E402
import tempfile  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.zeromq.openstack.plugins.module_utils.ini_edit import (  # noqa: E402
    IniEditError,
    apply,
)


def _write(module: AnsibleModule, path: str, text: str) -> None:
    """Replace path atomically, keeping its owner, group and mode."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".ini_options.")
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    module.atomic_move(tmp, path)


def main():
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "list", "elements": "path", "required": True},
            "edits": {
                "type": "list",
                "elements": "dict",
                "required": True,
                "options": {
                    "section": {"type": "str", "required": True},
                    "option": {"type": "str"},
                    "value": {"type": "str"},
                    "state": {
                        "type": "str",
                        "choices": ["present", "absent"],
                        "default": "present",
                    },
                    "secret": {"type": "bool", "default": False},
                },
            },
        },
        supports_check_mode=True,
    )
    for edit in module.params["edits"]:
        if edit["secret"] and edit["value"]:
            module.no_log_values.add(edit["value"])
    changes, diffs = {}, []
    for path in module.params["path"]:
        if not os.path.isfile(path):
            module.fail_json(msg=f"{path} does not exist (the service's config file is expected)")
        with open(path) as handle:
            before = handle.read()
        try:
            after, done = apply(before, module.params["edits"])
        except IniEditError as exc:
            module.fail_json(msg=f"{path}: {exc}")
        if after == before:
            continue
        changes[path] = done
        diffs.append(
            {"before": before, "after": after, "before_header": path, "after_header": path}
        )
        if not module.check_mode:
            _write(module, path, after)
    module.exit_json(changed=bool(changes), changes=changes, diff=diffs)


if __name__ == "__main__":
    main()
