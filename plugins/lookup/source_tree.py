# Copyright: contributors to the zeromq.openstack collection
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
name: source_tree
short_description: Read a source tree on the controller as a dictionary of path and text
version_added: 0.1.0
description:
  - Returns one dictionary, relative path to file content (UTF-8 text, read exactly, no
    stripping), of the files under a directory that match the given patterns, for
    M(zeromq.openstack.file_set) to write on the managed hosts in one module run.
  - Patterns are shell globs relative to the directory, matched with C(fnmatch); C(*) does not
    cross C(/).
author:
  - zeromq.openstack maintainers (!UNKNOWN)
options:
  _terms:
    description: The directory to read (one).
    required: true
    type: list
    elements: path
  patterns:
    description: Globs of the files to read, relative to the directory.
    type: list
    elements: str
    required: true
"""

EXAMPLES = r"""
- name: Ship the driver source
  zeromq.openstack.file_set:
    dest: /opt/zeromq/src/oslo.messaging.zmq
    files: >-
      {{ lookup('zeromq.openstack.source_tree', 'driver',
                patterns=['pyproject.toml', 'oslo_messaging_zmq/*.py']) }}
"""

RETURN = r"""
_raw:
  description: One dictionary of relative path to content.
  type: list
  elements: dict
"""

import os  # noqa: E402

from ansible.errors import AnsibleLookupError  # noqa: E402
from ansible.plugins.lookup import LookupBase  # noqa: E402
from ansible_collections.zeromq.openstack.plugins.module_utils.path_globs import (  # noqa: E402
    matches,
)


def read_tree(top: str, patterns: list[str]) -> dict[str, str]:
    """{relative path: text} of the regular files under top that match one of patterns."""
    if not os.path.isdir(top):
        raise AnsibleLookupError(f"source_tree: {top} is not a directory")
    found = {}
    for root, dirs, files in os.walk(top):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "__pycache__")
        for name in sorted(files):
            path = os.path.join(root, name)
            rel = os.path.relpath(path, top).replace(os.sep, "/")
            if os.path.isfile(path) and matches(rel, patterns):
                with open(path, encoding="utf-8") as handle:
                    found[rel] = handle.read()
    if not found:
        raise AnsibleLookupError(f"source_tree: nothing under {top} matches {patterns}")
    return found


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        if len(terms) != 1:
            raise AnsibleLookupError("source_tree takes exactly one directory")
        return [read_tree(terms[0], self.get_option("patterns"))]
