# Copyright: contributors to the zeromq.openstack collection
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Relative paths matched against globs whose ``*`` stays within one path component."""

from __future__ import annotations

import fnmatch


def matches(relpath: str, patterns: list[str]) -> bool:
    """True when relpath (with ``/``) matches one of patterns component by component."""
    parts = relpath.split("/")
    for pattern in patterns:
        globs = pattern.split("/")
        if len(globs) == len(parts) and all(
            fnmatch.fnmatchcase(part, glob) for part, glob in zip(parts, globs, strict=True)
        ):
            return True
    return False
