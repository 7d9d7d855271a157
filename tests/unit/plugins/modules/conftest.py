# Copyright: contributors to the zeromq.openstack collection
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Shared helpers of the module tests: the collection on sys.path and a module runner.

The modules import their module_utils as ``ansible_collections.zeromq.openstack...``. In a
checkout that package does not exist, so a scratch tree links the checkout under that name.
Inside an installed collection (ansible-test units) the real tree is used.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from unittest import mock

import pytest

COLLECTION_ROOT = Path(__file__).resolve().parents[4]


def _collection_on_path() -> None:
    parents = COLLECTION_ROOT.parents
    if (
        len(parents) >= 3
        and parents[0].name == "zeromq"
        and parents[1].name == "ansible_collections"
        and COLLECTION_ROOT.name == "openstack"
    ):
        top = str(parents[2])
    else:
        top = tempfile.mkdtemp(prefix="zmqos-collections-")
        atexit.register(shutil.rmtree, top, ignore_errors=True)
        namespace = Path(top, "ansible_collections", "zeromq")
        namespace.mkdir(parents=True)
        (namespace / "openstack").symlink_to(COLLECTION_ROOT, target_is_directory=True)
    if top not in sys.path:
        sys.path.insert(0, top)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [top] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    )


_collection_on_path()


@contextlib.contextmanager
def _module_args(args: dict):
    """Hand args to the next AnsibleModule, with ansible-core's own test hook when it has one."""
    try:
        from ansible.module_utils.testing import patch_module_args
    except ImportError:  # ansible-core before 2.19
        from ansible.module_utils import basic

        payload = json.dumps({"ANSIBLE_MODULE_ARGS": args}).encode()
        with mock.patch.object(basic, "_ANSIBLE_ARGS", payload):
            yield
        return
    with patch_module_args(args):
        yield


class ModuleRun:
    """Runs a module's main() in this process and returns its JSON result."""

    def __call__(self, module, args: dict, check_mode: bool = False, diff: bool = False) -> dict:
        full = dict(args, _ansible_check_mode=check_mode, _ansible_diff=diff)
        out = io.StringIO()
        with _module_args(full), contextlib.redirect_stdout(out):
            with pytest.raises(SystemExit) as exit_info:
                module.main()
        result = json.loads(out.getvalue())
        result["_exit_code"] = exit_info.value.code
        assert bool(result.get("failed")) == (exit_info.value.code != 0), result
        return result


@pytest.fixture(scope="session")
def run_module() -> ModuleRun:
    return ModuleRun()
