# Copyright: contributors to the zeromq.openstack collection
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""file_set (write a tree in one module run) and the source_tree lookup that feeds it."""

from __future__ import annotations

import grp
import os
import pwd
import stat

import pytest
from ansible.errors import AnsibleLookupError
from ansible_collections.zeromq.openstack.plugins.lookup import source_tree
from ansible_collections.zeromq.openstack.plugins.modules import file_set

ME = {"owner": pwd.getpwuid(os.getuid()).pw_name, "group": grp.getgrgid(os.getgid()).gr_name}
TREE = {"pyproject.toml": "[project]\n", "pkg/a.py": "A = 1\n", "pkg/b.py": "B = 2\n"}


def _run(run_module, dest, files=None, check=False, **extra):
    args = dict(ME, dest=str(dest), files=TREE if files is None else files, **extra)
    return run_module(file_set, args, check_mode=check)


def test_writes_the_tree_then_changes_nothing(tmp_path, run_module):
    dest = tmp_path / "src"
    first = _run(run_module, dest)
    assert first["changed"] is True
    assert sorted(first["written"]) == sorted(["./", "pkg/", *TREE])
    assert (dest / "pkg" / "b.py").read_text() == "B = 2\n"
    assert stat.S_IMODE(os.stat(dest / "pkg" / "a.py").st_mode) == 0o644
    assert stat.S_IMODE(os.stat(dest / "pkg").st_mode) == 0o755
    again = _run(run_module, dest)
    assert again["changed"] is False and again["written"] == [] and again["removed"] == []


def test_a_changed_file_and_a_changed_mode_are_rewritten(tmp_path, run_module):
    dest = tmp_path / "src"
    _run(run_module, dest)
    os.chmod(dest / "pkg" / "a.py", 0o600)
    result = _run(run_module, dest, files=dict(TREE, **{"pkg/b.py": "B = 3\n"}))
    assert sorted(result["written"]) == ["pkg/a.py", "pkg/b.py"]
    assert (dest / "pkg" / "b.py").read_text() == "B = 3\n"
    assert stat.S_IMODE(os.stat(dest / "pkg" / "a.py").st_mode) == 0o644


def test_prune_removes_only_matching_strays(tmp_path, run_module):
    dest = tmp_path / "src"
    _run(run_module, dest)
    (dest / "pkg" / "old.py").write_text("gone\n")
    (dest / "pkg" / "keep.txt").write_text("kept\n")
    (dest / "build").mkdir()
    (dest / "build" / "x.py").write_text("kept\n")
    check = _run(run_module, dest, check=True, prune=["pkg/*.py"])
    assert check["changed"] is True and check["removed"] == ["pkg/old.py"]
    assert (dest / "pkg" / "old.py").exists()
    result = _run(run_module, dest, prune=["pkg/*.py"])
    assert result["removed"] == ["pkg/old.py"] and result["written"] == []
    assert not (dest / "pkg" / "old.py").exists()
    assert (dest / "pkg" / "keep.txt").exists() and (dest / "build" / "x.py").exists()


def test_check_mode_on_a_fresh_host_writes_nothing(tmp_path, run_module):
    dest = tmp_path / "src"
    result = _run(run_module, dest, check=True)
    assert result["changed"] is True and "pkg/a.py" in result["written"]
    assert not dest.exists()


@pytest.mark.parametrize("rel", ["/etc/passwd", "../x.py", "pkg/../../x", "a//b"])
def test_paths_that_leave_dest_are_refused(tmp_path, run_module, rel):
    result = _run(run_module, tmp_path / "src", files={rel: "x"})
    assert result["failed"] and rel in result["msg"]
    assert not (tmp_path / "src").exists()


def test_source_tree_reads_matching_files_exactly(tmp_path):
    (tmp_path / "pkg" / "__pycache__").mkdir(parents=True)
    (tmp_path / "pkg" / "a.py").write_text("A = 1\n\n")
    (tmp_path / "pkg" / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"\0")
    (tmp_path / "pkg" / "notes.txt").write_text("no\n")
    (tmp_path / "pyproject.toml").write_text("[project]\n")
    tree = source_tree.read_tree(str(tmp_path), ["pyproject.toml", "pkg/*.py"])
    assert tree == {"pkg/a.py": "A = 1\n\n", "pyproject.toml": "[project]\n"}


def test_source_tree_fails_clearly(tmp_path):
    with pytest.raises(AnsibleLookupError, match="not a directory"):
        source_tree.read_tree(str(tmp_path / "nope"), ["*.py"])
    with pytest.raises(AnsibleLookupError, match="nothing under"):
        source_tree.read_tree(str(tmp_path), ["*.py"])
