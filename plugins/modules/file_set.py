#!/usr/bin/python
# Copyright: contributors to the zeromq.openstack collection
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
module: file_set
short_description: Write a set of text files under one directory in one call
version_added: 0.1.0
description:
  - Makes the files under O(dest) hold exactly the given contents (relative path to text),
    creating directories as needed, and removes files that match O(prune) but are not in the
    set (a module dropped from a new release of a package).
  - One module run for a whole source tree, where M(ansible.builtin.copy) of a directory runs a
    module per file.
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
    support: partial
    details:
      - The diff lists the written and removed paths, not their contents.
options:
  dest:
    description: Directory the relative paths of O(files) are under; created when missing.
    type: path
    required: true
  files:
    description:
      - Relative path (with C(/), no C(..)) to content.
    type: dict
    required: true
  prune:
    description:
      - Globs relative to O(dest) (C(*) does not cross C(/)); files matching one that are not
        in O(files) are removed.
    type: list
    elements: str
    default: []
  owner:
    description: Owner of the files and directories.
    type: str
    default: root
  group:
    description: Group of the files and directories.
    type: str
    default: root
  mode:
    description: Mode of the files.
    type: str
    default: "0644"
  directory_mode:
    description: Mode of the directories it creates or owns.
    type: str
    default: "0755"
"""

EXAMPLES = r"""
- name: Ship the driver source
  zeromq.openstack.file_set:
    dest: /opt/zeromq/src/oslo.messaging.zmq
    files: >-
      {{ lookup('zeromq.openstack.source_tree', 'driver',
                patterns=['pyproject.toml', 'oslo_messaging_zmq/*.py']) }}
    prune: [oslo_messaging_zmq/*.py]
"""

RETURN = r"""
written:
  description: Relative paths written (new or changed content, owner, group or mode).
  returned: always
  type: list
  elements: str
removed:
  description: Relative paths removed by O(prune).
  returned: always
  type: list
  elements: str
"""

import os  # noqa: E402
import tempfile  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.zeromq.openstack.plugins.module_utils.path_globs import (  # noqa: E402
    matches,
)


def _safe(rel: str) -> bool:
    parts = rel.split("/")
    return bool(rel) and not rel.startswith("/") and all(p not in ("", ".", "..") for p in parts)


def _existing(dest: str) -> list[str]:
    found = []
    for root, _dirs, files in os.walk(dest):
        for name in files:
            found.append(os.path.relpath(os.path.join(root, name), dest).replace(os.sep, "/"))
    return found


def _same(path: str, content: bytes) -> bool:
    try:
        with open(path, "rb") as handle:
            return handle.read() == content
    except FileNotFoundError:
        return False


def main():
    module = AnsibleModule(
        argument_spec={
            "dest": {"type": "path", "required": True},
            "files": {"type": "dict", "required": True},
            "prune": {"type": "list", "elements": "str", "default": []},
            "owner": {"type": "str", "default": "root"},
            "group": {"type": "str", "default": "root"},
            "mode": {"type": "str", "default": "0644"},
            "directory_mode": {"type": "str", "default": "0755"},
        },
        supports_check_mode=True,
    )
    p = module.params
    dest, files = p["dest"], p["files"]
    bad = sorted(rel for rel in files if not _safe(rel))
    if bad:
        module.fail_json(
            msg="file_set: paths must be relative, without '..': {}".format(", ".join(bad))
        )
    written, removed = [], []
    directories = {dest} | {os.path.dirname(os.path.join(dest, rel)) for rel in files}
    for directory in sorted(directories):
        attrs = {
            "path": directory,
            "owner": p["owner"],
            "group": p["group"],
            "mode": p["directory_mode"],
        }
        if not os.path.isdir(directory):
            written.append(os.path.relpath(directory, dest) + "/")
            if module.check_mode:
                continue
            os.makedirs(directory, exist_ok=True)
        module.set_fs_attributes_if_different(module.load_file_common_arguments(attrs), False)
    for rel in sorted(files):
        path = os.path.join(dest, rel)
        content = str(files[rel]).encode("utf-8")
        attrs = module.load_file_common_arguments(
            {"path": path, "owner": p["owner"], "group": p["group"], "mode": p["mode"]}
        )
        if _same(path, content):
            if module.set_fs_attributes_if_different(attrs, False, expand=False):
                written.append(rel)
            continue
        written.append(rel)
        if module.check_mode:
            continue
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".file_set.")
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
        module.atomic_move(tmp, path)
        module.set_fs_attributes_if_different(attrs, False, expand=False)
    if p["prune"] and os.path.isdir(dest):
        for rel in sorted(_existing(dest)):
            if rel not in files and matches(rel, p["prune"]):
                removed.append(rel)
                if not module.check_mode:
                    os.unlink(os.path.join(dest, rel))
    changed = bool(written or removed)
    module.exit_json(
        changed=changed,
        written=written,
        removed=removed,
        diff={"before": {"removed": removed}, "after": {"written": written}} if changed else {},
    )


if __name__ == "__main__":
    main()
